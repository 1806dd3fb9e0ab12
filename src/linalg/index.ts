/**
 * Float64 dense linear algebra on row-major Float64Arrays: Cholesky, triangular
 * solves and inverses, and the blocked C −= A·B update they and GPTQ run on
 * (a WebAssembly SIMD kernel, with a scalar path that gives the same bits).
 */
export { choleskyInPlace, choleskyLower, choleskyUpper, NotPositiveDefiniteError, transpose } from './cholesky';
export { gemmSub, Strided, transposed, view } from './gemm';
export { kernelKind, useScalarKernel } from './gemm-kernel';
export { choleskyInverse, inverseSpd, upperCholeskyOfInverse, upperCholeskyOfInverseLiteral } from './inverse';
export { invertLower, invertLowerInPlace, solveLower, solveUpper } from './triangular';
