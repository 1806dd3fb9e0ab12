import type { Model, Value } from '../../ir';
import type { PruneTarget } from './types';

/**
 * Where channel pruning of a target acts, for the Taylor gate criterion.
 *
 * Molchanov et al., "Importance Estimation for Neural Network Pruning" (CVPR 2019),
 * Sec. 3, first-order criterion on gates: a gate z_c = 1 multiplies channel c's
 * activation a_c, and the first-order loss change of setting z_c = 0 is
 * z_c * dL/dz_c = sum over batch and space of a_c * dL/da_c; the importance is its
 * square per mini-batch, summed over mini-batches. Their networks with BatchNorm
 * put the gate after BN (the "Taylor-FO-BN" variant: (gamma*g_gamma + beta*g_beta)^2,
 * as in NVlabs/Taylor_pruning).
 *
 * Removing channel c (channel.ts) deletes the filter, its bias, the following
 * BatchNormalization's entries and the consumer's input channel: the activation
 * that disappears is the BN output when a BN follows, else the layer's output
 * including its bias. With a = gamma * xhat + beta (BN), or a = W_c * x + b_c
 * (Conv/Gemm), a is linear and homogeneous of degree 1 in (gamma, beta), resp.
 * (W_c, b_c), so by Euler's identity
 *   sum a * dL/da = gamma * dL/dgamma + beta * dL/dbeta,  resp.  sum_{w in W_c} w * dL/dw + b * dL/db,
 * i.e. the gate term comes from parameter gradients alone. Scoring the filter
 * weights only (the "group" form) misses the BN's constant beta - gamma*mean/sigma
 * and the bias, which keep flowing when a filter is zeroed but vanish when the
 * channel is removed.
 */
export interface ChannelGate {
  /** Constants whose per-channel sums of value * gradient add up to the gate term. */
  terms: GateTerm[];
}

/** A constant and the axis of it that holds the target's output channels. */
export interface GateTerm {
  value: Value;
  axis: number;
}

/** The gate of `target`'s output channels (see ChannelGate). */
export function channelGate(model: Model, target: PruneTarget): ChannelGate {
  const channels = target.value.const!.shape[target.outAxis];
  const bn = followingBatchNorm(model, target, channels);
  if (bn) return { terms: [{ value: bn.scale, axis: 0 }, { value: bn.bias, axis: 0 }] };
  const terms: GateTerm[] = [{ value: target.value, axis: target.outAxis }];
  const { node } = target;
  const bias = node.opType === 'Conv' || node.opType === 'Gemm' ? node.inputs[2] : null;
  const bs = bias?.const?.shape;
  // A bias broadcast across channels (last dim 1) is not removed with the channel (channel.ts keeps it).
  if (bias && bs && bs.length > 0 && bs[bs.length - 1] === channels) terms.push({ value: bias, axis: bs.length - 1 });
  return { terms };
}

/**
 * The BatchNormalization (inference mode, constant per-channel scale and bias) that
 * is the only consumer of a Conv's output, i.e. where channel removal cuts.
 */
function followingBatchNorm(model: Model, target: PruneTarget, channels: number): { scale: Value; bias: Value } | undefined {
  const { node } = target;
  if (node.opType !== 'Conv') return undefined;
  const out = node.outputs[0];
  if (!out || out.uses.length !== 1 || model.graph.outputs.includes(out)) return undefined;
  const { node: bn, index } = out.uses[0];
  if (bn.opType !== 'BatchNormalization' || (bn.domain !== '' && bn.domain !== 'ai.onnx') || index !== 0) return undefined;
  if (bn.attrInt('training_mode', 0)) return undefined;
  const [scale, bias] = [bn.inputs[1], bn.inputs[2]];
  const perChannel = (v: Value | null | undefined): v is Value => !!v?.const && v.const.shape.length === 1 && v.const.shape[0] === channels;
  return perChannel(scale) && perChannel(bias) ? { scale, bias } : undefined;
}
