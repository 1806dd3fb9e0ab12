/** Small formatters shared by the human reporters. */
import type { Dim } from '../ir';

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Bytes in binary units with one decimal: 411_048 → "401.4 KiB". Below 1 KiB: "812 B". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** [null, 'batch', 28] → "[?,batch,28]"; an unknown rank → "?". */
export function formatShape(shape: readonly Dim[] | null | undefined): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}
