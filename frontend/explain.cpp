// tj::explain: the report of codegen/report.h for one call of a jitted
// function, on the signature's compiled program.
#include "codegen/report.h"
#include "frontend/jit_state.h"

namespace tj::detail {

std::string JitCore::explain(const std::vector<Tensor>& inputs, bool json) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined() || inputs[i].is_traced()) fail("explain: input {} must be a concrete tensor", i);
  const std::shared_ptr<const CompiledProgram> compiled = state_->lookup(inputs);
  std::vector<Array> arrays;
  for (const Tensor& t : inputs) arrays.push_back(t.array());
  const Report report = make_report(ReportRequest{.reference = compiled->traced,
                                                  .reference_function = compiled->traced.functions.front(),
                                                  .optimized = compiled->optimized.functions.front(),
                                                  .executable = *compiled->executable,
                                                  .inputs = arrays,
                                                  .inputs_text = compiled->signature,
                                                  .backend = state_->options.backend,
                                                  .trace_ms = compiled->trace_ms,
                                                  .passes_ms = compiled->passes_ms});
  return json ? report_json(report) : report_text(report);
}

}  // namespace tj::detail
