// mxdl_copy_if(flag, src_1..src_n, dst_1..dst_n, num_pairs=n): when flag[0] is not 0, copy
// each src_i into dst_i; when it is 0, touch nothing. Its one output is the flag, for MXNet.
//
// Why mxdl carries C++: MXNet has no operator whose work depends on a value on the device. The
// non-finite guard (guard.py) built from stock operators copies every weight and optimizer state
// twice on every step, so that a bad step can be undone without reading the flag on the host
// (2.6-3.7% of a MiniVGGNet step on a 2-core CPU). On CPUs the engine runs this operator after
// the flag is computed, so reading it here stalls nothing, and a finite step copies nothing.
// The dst arrays are declared mutated, so the engine orders the update around both calls.
//
// Built by setup.py against the headers of the installed MXNet (lib_api.h), loaded with
// mx.library.load. CPU only: GPUs keep the stock-operator guard (its copies there were not
// measured: no GPU here), since reading the flag in a CPU operator would stall their stream.
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "mxnet/lib_api.h"

using mxnet::ext::MXReturnValue;
using mxnet::ext::MXTensor;
using mxnet::ext::OpResource;
using Attrs = std::unordered_map<std::string, std::string>;

static int NumPairs(const Attrs& attrs) {
  return std::stoi(attrs.at("num_pairs"));
}

static size_t ElementBytes(int dtype) {
  switch (dtype) {
    case mxnet::ext::kFloat64: case mxnet::ext::kInt64: return 8;
    case mxnet::ext::kFloat32: case mxnet::ext::kInt32: return 4;
    case mxnet::ext::kFloat16: return 2;
    case mxnet::ext::kUint8: case mxnet::ext::kInt8: return 1;
    default: return 0;
  }
}

static MXReturnValue ParseAttrs(const Attrs& attrs, int* num_in, int* num_out) {
  if (attrs.count("num_pairs") == 0 || NumPairs(attrs) < 1) {
    MX_ERROR_MSG << "mxdl_copy_if needs num_pairs of at least 1";
    return mxnet::ext::MX_FAIL;
  }
  *num_in = 1 + 2 * NumPairs(attrs);
  *num_out = 1;
  return mxnet::ext::MX_SUCCESS;
}

static MXReturnValue InferType(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  int n = NumPairs(attrs);
  if ((*in)[0] != mxnet::ext::kFloat32) {
    MX_ERROR_MSG << "mxdl_copy_if: the flag must be float32";
    return mxnet::ext::MX_FAIL;
  }
  for (int i = 1; i <= n; ++i) {
    if ((*in)[i] != (*in)[i + n] || ElementBytes((*in)[i]) == 0) {
      MX_ERROR_MSG << "mxdl_copy_if: pair " << i << " differs in type, or its type is not supported";
      return mxnet::ext::MX_FAIL;
    }
  }
  (*out)[0] = mxnet::ext::kFloat32;
  return mxnet::ext::MX_SUCCESS;
}

static MXReturnValue InferShape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in,
                                std::vector<std::vector<unsigned int>>* out) {
  int n = NumPairs(attrs);
  for (int i = 1; i <= n; ++i) {
    if ((*in)[i] != (*in)[i + n]) {
      MX_ERROR_MSG << "mxdl_copy_if: pair " << i << " differs in shape";
      return mxnet::ext::MX_FAIL;
    }
  }
  (*out)[0] = std::vector<unsigned int>{1};
  return mxnet::ext::MX_SUCCESS;
}

static MXReturnValue MutateInputs(const Attrs& attrs, std::vector<int>* indices) {
  int n = NumPairs(attrs);
  for (int i = 0; i < n; ++i) indices->push_back(1 + n + i);
  return mxnet::ext::MX_SUCCESS;
}

static MXReturnValue Forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                             std::vector<MXTensor>* outputs, const OpResource& res) {
  int n = NumPairs(attrs);
  float flag = *static_cast<const float*>((*inputs)[0].data_ptr);
  *static_cast<float*>((*outputs)[0].data_ptr) = flag;
  if (flag == 0) return mxnet::ext::MX_SUCCESS;
  for (int i = 1; i <= n; ++i) {
    const MXTensor& src = (*inputs)[i];
    std::memcpy((*inputs)[i + n].data_ptr, src.data_ptr, src.size() * ElementBytes(src.dtype));
  }
  return mxnet::ext::MX_SUCCESS;
}

REGISTER_OP(mxdl_copy_if)
.setParseAttrs(ParseAttrs)
.setInferType(InferType)
.setInferShape(InferShape)
.setMutateInputs(MutateInputs)
.setForward(Forward, "cpu");

MXReturnValue initialize(int version) {
  return mxnet::ext::MX_SUCCESS;
}
