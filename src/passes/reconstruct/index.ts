/**
 * Weight reconstruction after compression: pure per-matrix functions (GPTQ,
 * SparseGPT) and the Hessian sink a calibration run feeds. No model knowledge:
 * the caller hands in W [outputs, inputs] and H, and wires the results into the
 * model in round 1's forms.
 */
export { dequantOf, GridOptions, groupOf, levelOf, QuantGrid, quantGrid, tfjsGridUnfit, transposeQuantized } from './grid';
export { im2colNhwc, NhwcConvGeometry } from './im2col-nhwc';
export { finishGptq, GptqOptions, GptqPlan, gptqQuantize, GptqResult, GptqRowsJob, planGptq, sweepGptqRows } from './gptq';
export { Conv2dGeometry, HessianAccumulator, im2colRows } from './hessian';
export { prepareHessian, PreparedHessian } from './prepare';
export { layerSparsities, SparseGptOptions, SparseGptResult, sparsegptPrune, sparsegptScores } from './sparsegpt';
export { sweep, SweepRule } from './sweep';
export { biasCorrection } from './bias-correction';
export { clipSearch, ClipSearchOptions, ClipSearchResult, shrinkGrid } from './clip-search';
export { checkReconstructionMemory, hessianBytes, reconstructionBytes } from './memory';
