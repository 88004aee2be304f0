#pragma once
// Internals of the es device backend: the cuBLAS calls it makes, typed for float and double,
// with failures turned into exceptions, and the handle set up for one call and restored after.
//
// cuBLAS is column-major. tessera's matrices are row-major, and a row-major R × C matrix is the
// column-major C × R matrix of its transpose, so the row-major Y = X W (X: rows × m, W: m × n) is
// the column-major Yᵀ = Wᵀ Xᵀ: gemm(N, N, n, rows, m, W, ld n, X, ld m, Y, ld n).

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <climits>
#include <cstddef>
#include <string>
#include <string_view>

#include "tessera/core/cuda/check.cuh"

namespace tessera::es::detail {

/// Throws cuda_error "<where>: cuBLAS <status name>" unless status is CUBLAS_STATUS_SUCCESS.
inline void check_cublas(cublasStatus_t status, std::string_view where) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw cuda_error(std::string(where) + ": cuBLAS " + cublasGetStatusName(status));
}

/// For the lifetime of the scope, `handle` runs on `stream` with host pointers for α and β; its
/// previous stream and pointer mode come back on exit (the handle is the caller's).
class cublas_call_scope {
 public:
  /// Throws cuda_error when cuBLAS refuses the handle (a null or destroyed one). O(1).
  cublas_call_scope(cublasHandle_t handle, cudaStream_t stream, std::string_view where) : handle_(handle) {
    check_cublas(cublasGetStream(handle, &previous_stream_), where);
    check_cublas(cublasGetPointerMode(handle, &previous_mode_), where);
    check_cublas(cublasSetStream(handle, stream), where);
    check_cublas(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST), where);
  }

  ~cublas_call_scope() {
    cublasSetPointerMode(handle_, previous_mode_);
    cublasSetStream(handle_, previous_stream_);
  }

  cublas_call_scope(const cublas_call_scope&) = delete;
  cublas_call_scope& operator=(const cublas_call_scope&) = delete;

 private:
  cublasHandle_t handle_;
  cudaStream_t previous_stream_ = nullptr;
  cublasPointerMode_t previous_mode_ = CUBLAS_POINTER_MODE_HOST;
};

/// A dimension as cuBLAS takes it; the launchers have checked it is <= INT_MAX.
inline int blas_int(std::size_t value) { return static_cast<int>(value); }

/// Whether a dimension fits cuBLAS's 32-bit int.
inline bool fits_blas_int(std::size_t value) { return value <= static_cast<std::size_t>(INT_MAX); }

/// C = α op(A) op(B) + β C, column-major (cublasSgemm / cublasDgemm). Throws cuda_error.
inline void gemm(cublasHandle_t h, cublasOperation_t op_a, cublasOperation_t op_b, std::size_t rows,
                 std::size_t cols, std::size_t inner, float alpha, const float* a, std::size_t lda, const float* b,
                 std::size_t ldb, float beta, float* c, std::size_t ldc, std::string_view where) {
  check_cublas(cublasSgemm(h, op_a, op_b, blas_int(rows), blas_int(cols), blas_int(inner), &alpha, a, blas_int(lda),
                           b, blas_int(ldb), &beta, c, blas_int(ldc)),
               where);
}

inline void gemm(cublasHandle_t h, cublasOperation_t op_a, cublasOperation_t op_b, std::size_t rows,
                 std::size_t cols, std::size_t inner, double alpha, const double* a, std::size_t lda, const double* b,
                 std::size_t ldb, double beta, double* c, std::size_t ldc, std::string_view where) {
  check_cublas(cublasDgemm(h, op_a, op_b, blas_int(rows), blas_int(cols), blas_int(inner), &alpha, a, blas_int(lda),
                           b, blas_int(ldb), &beta, c, blas_int(ldc)),
               where);
}

/// An operand of a strided batch: entry i at data + i stride (stride 0: one matrix for all),
/// column-major with leading dimension `leading`.
template <class T>
struct batched_operand {
  const T* data;
  std::size_t leading;
  long long stride;
};

/// C_i = A_i B_i for i < batch, column-major, no transposes (cublas{S,D}gemmStridedBatched with
/// α = 1, β = 0), C_i at c + i stride_c. Throws cuda_error.

inline void gemm_batched(cublasHandle_t h, std::size_t rows, std::size_t cols, std::size_t inner,
                         batched_operand<float> a, batched_operand<float> b, float* c, std::size_t ldc,
                         long long stride_c, std::size_t batch, std::string_view where) {
  const float one = 1, zero = 0;
  check_cublas(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, blas_int(rows), blas_int(cols),
                                         blas_int(inner), &one, a.data, blas_int(a.leading), a.stride, b.data,
                                         blas_int(b.leading), b.stride, &zero, c, blas_int(ldc), stride_c,
                                         blas_int(batch)),
               where);
}

inline void gemm_batched(cublasHandle_t h, std::size_t rows, std::size_t cols, std::size_t inner,
                         batched_operand<double> a, batched_operand<double> b, double* c, std::size_t ldc,
                         long long stride_c, std::size_t batch, std::string_view where) {
  const double one = 1, zero = 0;
  check_cublas(cublasDgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, blas_int(rows), blas_int(cols),
                                         blas_int(inner), &one, a.data, blas_int(a.leading), a.stride, b.data,
                                         blas_int(b.leading), b.stride, &zero, c, blas_int(ldc), stride_c,
                                         blas_int(batch)),
               where);
}

}  // namespace tessera::es::detail
