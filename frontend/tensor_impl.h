// The inside of tj::Tensor and the tracer. A concrete tensor holds an Array;
// a traced tensor names a node of the graph its tracer is building. The
// tracer is shared by its tensors, so a traced tensor that escapes its trace
// finds it finished and reports an error instead of touching a dead node.
#pragma once

#include <map>
#include <memory>

#include "ir/graph.h"
#include "tensorjit/tensor.h"

namespace tj {

class Tracer;

struct TensorImpl {
  Array value;                      // concrete tensors
  std::shared_ptr<Tracer> tracer;   // traced tensors: the trace they belong to
  Node* node = nullptr;             // traced tensors: their value in the trace
  TensorType type;                  // dtype and shape, both kinds
};

// Builds one function from the ops applied to its traced tensors.
class Tracer : public std::enable_shared_from_this<Tracer> {
 public:
  Tracer();

  // The tracer of this thread's innermost running trace, or nullptr.
  static std::shared_ptr<Tracer> current();

  Tensor add_param(const TensorType& type);
  // A concrete tensor used by the trace: a splat literal for one element,
  // else a tensor constant (captured data), once per tensor.
  Node* capture(const Tensor& concrete);
  Tensor make_traced(Node* node);

  Program& program() { return program_; }
  Function& function() { return program_.functions.front(); }
  bool active() const { return active_; }

  // Makes this the current tracer of the thread until the scope ends; then
  // the trace is finished and its tensors can no longer be used.
  class Scope {
   public:
    explicit Scope(std::shared_ptr<Tracer> tracer);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    std::shared_ptr<Tracer> tracer_;
  };

 private:
  Program program_;
  // Captured tensors, kept alive so that their addresses stay unique keys.
  std::map<const TensorImpl*, std::pair<std::shared_ptr<TensorImpl>, Node*>> captured_;
  bool active_ = true;
  int next_constant_ = 0;
};

}  // namespace tj
