export * from './types';
export { prunePass, validatePruneOptions } from './pass';
export { findTargets } from './targets';
export { magnitudeScores, channelNorms } from './magnitude';
export { lowest, pruneCount, rankAscending, selectGlobal, selectNM } from './select';
export { planChannels, applyChannelPlan, countMacs } from './channel';
export { saliencyScores } from './saliency';
export type { SaliencyOptions } from './saliency';
export { openGradModel, outputIsProbabilities } from './gradients';
