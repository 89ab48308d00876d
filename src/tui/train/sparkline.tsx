/** A one-line trend of recent values: ▁▂▃▄▅▆▇█ scaled between their min and max. */
import { Text } from 'ink';

const BARS = '▁▂▃▄▅▆▇█';

/** The sparkline text for `values` (last `width` finite values). */
export function sparkline(values: readonly number[], width = 24): string {
  const v = values.filter((x) => Number.isFinite(x)).slice(-width);
  if (v.length === 0) return '';
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const span = hi - lo;
  return v.map((x) => BARS[span > 0 ? Math.min(BARS.length - 1, Math.floor(((x - lo) / span) * BARS.length)) : 3]).join('');
}

export function Sparkline({ values, width = 24, color }: { values: readonly number[]; width?: number; color?: string }) {
  return <Text color={color}>{sparkline(values, width)}</Text>;
}
