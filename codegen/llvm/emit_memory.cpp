// The Emitter's memory access (emitter.h): vector loads and stores through
// index maps (contiguous, broadcast, gathered and scattered, masked),
// prefetches, streaming stores for large outputs, the row buffers of
// doubles and floats, and where large temporaries live (stack or the
// thread's kernel scratch).
#include "codegen/llvm/emit.h"
#include "codegen/llvm/emitter.h"

namespace tj::llvm_backend {

Value* Emitter::scratch(llvm::Type* element, int64_t count) {
  const int64_t bytes = count * static_cast<int64_t>(element->getPrimitiveSizeInBits() / 8);
  if (stack_buffer_bytes_ + bytes <= kStackBufferBytes) {  // a budget for all of the kernel's buffers, not each
    stack_buffer_bytes_ += bytes;
    return create_entry_alloca(element, count);
  }
  if (!scratch_request_) {
    auto* type = llvm::FunctionType::get(b_.getPtrTy(), {b_.getInt64Ty()}, false);
    llvm::FunctionCallee request = module_.getOrInsertFunction("tj_kernel_scratch", type);
    if (auto* f = llvm::dyn_cast<llvm::Function>(request.getCallee())) {
      f->addFnAttr(llvm::Attribute::NoUnwind);
      f->addRetAttr(llvm::Attribute::NoAlias);
      f->addRetAttr(llvm::Attribute::getWithAlignment(ctx_, llvm::Align(64)));
    }
    llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
    scratch_request_ = entry.CreateCall(request, {entry.getInt64(0)});  // the size is set when the kernel is done
  }
  const int64_t offset = scratch_bytes_;
  scratch_bytes_ += (bytes + 63) / 64 * 64;
  llvm::IRBuilder<> after(scratch_request_->getNextNode());
  return after.CreateConstGEP1_64(b_.getInt8Ty(), scratch_request_, offset);
}

bool Emitter::streams_out(const IndexMap& m) const {
  if (m.dtype != DType::f32 || m.strides.back() != 1) return false;
  if (k_.rows() * k_.inner() * 4 < kStreamingStoreBytes) return false;
  if (ranges_over_elements(k_)) return true;
  const size_t row_dims = k_.domain.size() - k_.inner_dims;
  return std::all_of(m.strides.begin(), m.strides.begin() + row_dims, [&](int64_t s) { return s % lanes_ == 0; });
}

// Streaming stores (emitter.h).
// A value whose math in the storing pass has a long chain (exp, log,
// tanh, sigmoid, erf, pow: GELU, an element-wise exp) is stored through
// the cache all the same (stores_through_cache). On Zen 5 streaming
// stores cost such math-bound loops about 5 cycles each: bench_kernels'
// fused GELU at [4096, 4096]
// (6 runs each, interleaved ABBA) took 4.55-4.83 ms at 1 thread with
// cached stores against 4.91-6.67 streaming, and 2.20-3.39 against
// 2.44-3.73 at 2; with AVX2 9.6-9.8 against 11.6-11.8 at 1 thread; erf
// called directly on 64 MiB 15-18 cycles a vector against 20-23, sigmoid
// 14.8 against 16.1 (medians), exp even; a synthetic C loop of 14 cycles
// of FMAs a vector 4.2-4.4 ms against 5.7-6.0. So do the outputs of row
// kernels (more than one pass: softmax, layer norm); stored in a burst at
// the end of each row's compute (before two rows were in flight), after
// bench_kernels' triad loop, 3 alternating runs, mean ms at 1 / 2 threads, cached against
// streaming: layer norm 2.12, 1.61, 1.37 against 2.04, 2.31, 2.14 / 0.95,
// 0.82, 0.90 against 1.25, 0.97, 1.25; softmax 1.25, 1.07, 1.30 against
// 1.17, 1.23, 1.49 / 0.89, 0.71, 0.73 against 1.03, 0.80, 0.79. Called
// directly after a triad, layer norm's kernel: median 1.54 against 1.84
// ms. With two rows in flight the stores spread out, and streaming is
// still slower (emit_rows.cpp). Short one-pass bodies stream (bias_relu:
// 97-101% of the triad). MOVDIR64B (a full line written around the cache,
// which Zen 5 has) stalls the same way: a C loop of GELU's math over 64 MiB
// after a triad, 1 thread, 13.5 cycles a vector cached, 15.1-15.6
// streaming, 17.1-17.5 with MOVDIR64B from a line in L1.
void Emitter::check_streaming_stores() {
  const int64_t vector_bytes = lanes_ * 4;
  for (const LoopKernel::Store& store : k_.stores) {
    if (k_.steps[store.step].row_level || !streams_out(store.map) || stores_through_cache(store.step)) continue;
    Value* first = b_.getInt64(store.map.offset);
    if (ranges_over_elements(k_)) first = b_.CreateAdd(first, fn_->getArg(1));
    Value* address = b_.CreatePtrToInt(b_.CreateGEP(b_.getFloatTy(), base_[store.map.buffer], first), b_.getInt64Ty());
    Value* aligned = b_.CreateICmpEQ(b_.CreateAnd(address, b_.getInt64(vector_bytes - 1)), b_.getInt64(0));
    streaming_stores_ok_ = streaming_stores_ok_ ? b_.CreateAnd(streaming_stores_ok_, aligned) : aligned;
  }
}

Value* Emitter::create_entry_alloca(llvm::Type* type, int64_t count) {
  llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
  return entry.CreateAlloca(type, count == 1 ? nullptr : entry.getInt64(count));
}

Value* Emitter::load_scalar(const IndexMap& m) {
  Value* v = b_.CreateLoad(memory_of(m.dtype), b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], offsets_.at(&m)));
  return m.dtype == DType::boolean ? b_.CreateICmpNE(v, b_.getInt8(0)) : v;
}

Value* Emitter::load_floats(Value* p, Value* mask) {
  auto* f32 = vector_of(DType::f32);
  if (mask) return b_.CreateMaskedLoad(f32, p, llvm::Align(4), mask, llvm::Constant::getNullValue(f32));
  return b_.CreateAlignedLoad(f32, p, llvm::Align(4));
}

void Emitter::store_floats(Value* v, Value* p, Value* mask) {
  if (mask) b_.CreateMaskedStore(v, p, llvm::Align(4), mask);
  else b_.CreateAlignedStore(v, p, llvm::Align(4));
}

Value* Emitter::load_doubles(Value* p, Value* mask) {
  auto* f64 = llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_);
  if (mask) return b_.CreateMaskedLoad(f64, p, llvm::Align(8), mask, llvm::Constant::getNullValue(f64));
  return b_.CreateAlignedLoad(f64, p, llvm::Align(8));
}

void Emitter::store_doubles(Value* v, Value* p, Value* mask) {
  if (mask) b_.CreateMaskedStore(v, p, llvm::Align(8), mask);
  else b_.CreateAlignedStore(v, p, llvm::Align(8));
}

void Emitter::store_streaming(Value* v, Value* p) {
  auto* streaming = llvm::BasicBlock::Create(ctx_, "store.streaming", fn_);
  auto* cached = llvm::BasicBlock::Create(ctx_, "store.cached", fn_);
  auto* done = llvm::BasicBlock::Create(ctx_, "store.done", fn_);
  b_.CreateCondBr(streaming_stores_ok_, streaming, cached);
  b_.SetInsertPoint(streaming);
  llvm::StoreInst* store = b_.CreateAlignedStore(v, p, llvm::Align(lanes_ * 4));
  store->setMetadata(llvm::LLVMContext::MD_nontemporal, llvm::MDNode::get(ctx_, {llvm::ConstantAsMetadata::get(b_.getInt32(1))}));
  b_.CreateBr(done);
  b_.SetInsertPoint(cached);
  b_.CreateAlignedStore(v, p, llvm::Align(4));
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

Value* Emitter::element_pointers(const IndexMap& m, Value* j, int64_t stride) {
  Value* index = b_.CreateAdd(splat(offsets_.at(&m)), b_.CreateMul(b_.CreateAdd(splat(j), lane_ids()), splat(b_.getInt64(stride))));
  return b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], index);
}

Value* Emitter::load_vector(const IndexMap& m, Value* j, Value* mask) {
  if (reducing_columns_) return load_column(m, j, mask);
  const int64_t stride = m.strides.back();
  auto* type = llvm::FixedVectorType::get(memory_of(m.dtype), lanes_);
  const llvm::Align align(m.dtype == DType::boolean ? 1 : 4);
  Value* v;
  if (stride == 0) {
    v = splat(b_.CreateLoad(memory_of(m.dtype), b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], offsets_.at(&m))));
  } else if (stride == 1) {
    Value* p = b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], b_.CreateAdd(offsets_.at(&m), j));
    v = mask ? static_cast<Value*>(b_.CreateMaskedLoad(type, p, align, mask, llvm::Constant::getNullValue(type)))
             : b_.CreateAlignedLoad(type, p, align);
    if (!mask && software_prefetch_ && streams(m)) prefetch(b_.CreateGEP(memory_of(m.dtype), p, b_.getInt64(kPrefetchElements)));
  } else {
    Value* all = mask ? mask : splat(b_.getInt1(true));
    v = b_.CreateMaskedGather(type, element_pointers(m, j, stride), align, all, llvm::Constant::getNullValue(type));
  }
  return m.dtype == DType::boolean ? b_.CreateICmpNE(v, llvm::Constant::getNullValue(type)) : v;
}

bool Emitter::streams(const IndexMap& m) const {
  if (ranges_over_elements(k_)) return true;
  const size_t row_dims = k_.domain.size() - k_.inner_dims;
  return std::any_of(m.strides.begin(), m.strides.begin() + row_dims, [](int64_t s) { return s != 0; });
}

void Emitter::prefetch(Value* p, Access access) {
  const int writes = access == Access::write ? 1 : 0;
  b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {p->getType()}, {p, b_.getInt32(writes), b_.getInt32(3), b_.getInt32(1)});
}

void Emitter::store_vector(const IndexMap& m, Value* v, Value* j, Value* mask, bool through_cache) {
  if (m.dtype == DType::boolean) v = b_.CreateZExt(v, llvm::FixedVectorType::get(b_.getInt8Ty(), lanes_));
  const int64_t stride = m.strides.back();
  const llvm::Align align(m.dtype == DType::boolean ? 1 : 4);
  if (stride == 1) {
    Value* p = b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], b_.CreateAdd(offsets_.at(&m), j));
    if (mask) b_.CreateMaskedStore(v, p, align, mask);
    else if (streaming_stores_ok_ && streams_out(m) && !through_cache) store_streaming(v, p);
    else {
      // A large output stored through the cache reads each line for
      // ownership: asked for ahead, with write intent, the read is under way
      // before the store waits on it. GELU [4096,4096] at 1 thread, called
      // directly: median 15.59 -> 14.86 cycles a vector (10 alternating runs).
      if (through_cache && software_prefetch_ && streams_out(m)) prefetch(b_.CreateGEP(memory_of(m.dtype), p, b_.getInt64(kPrefetchElements)), Access::write);
      b_.CreateAlignedStore(v, p, align);
    }
  } else {
    b_.CreateMaskedScatter(v, element_pointers(m, j, stride), align, mask ? mask : splat(b_.getInt1(true)));
  }
}

}  // namespace tj::llvm_backend
