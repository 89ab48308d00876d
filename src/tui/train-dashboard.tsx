/**
 * The `alae train` dashboard (ink, TTY only): level and resolution, blend,
 * images seen of the total, speed, ETA, the three losses with their recent
 * trend, and where the last sample grid and checkpoint went. It only
 * renders the state the CLI hands it; training never waits on it.
 */
import { Box, Text } from 'ink';
import { Sparkline } from './train/sparkline.js';

export interface DashboardState {
  title: string;
  backend: string;
  dataset: string;
  outDir: string;
  lod: number | null;
  resolution: number | null;
  blend: number;
  inTransition: boolean;
  kimg: number;
  totalKimg: number;
  imgPerSec: number | null;
  etaSec: number | null;
  /** Loss per report, oldest first. */
  history: { d: number[]; g: number[]; ae: number[] };
  /** Losses of the latest iteration. */
  last: { d: number; g: number; ae: number } | null;
  samplePath: string | null;
  checkpointPath: string | null;
  status: string;
}

export function emptyDashboard(init: Pick<DashboardState, 'title' | 'backend' | 'dataset' | 'outDir'>): DashboardState {
  return {
    ...init,
    lod: null,
    resolution: null,
    blend: 1,
    inTransition: false,
    kimg: 0,
    totalKimg: 0,
    imgPerSec: null,
    etaSec: null,
    history: { d: [], g: [], ae: [] },
    last: null,
    samplePath: null,
    checkpointPath: null,
    status: 'starting',
  };
}

/** 3725 s -> "1h 02m"; null -> "-". */
export function formatDuration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '-';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d ${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

function bar(frac: number, width: number): string {
  const f = Math.max(0, Math.min(1, frac));
  const full = Math.round(f * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

function num(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return Math.abs(x) >= 100 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(3) : x.toFixed(4);
}

function LossRow({ name, values, last, color }: { name: string; values: number[]; last: number | undefined; color: string }) {
  return (
    <Box>
      <Box width={6}>
        <Text>{name}</Text>
      </Box>
      <Box width={12}>
        <Text color={color}>{num(last)}</Text>
      </Box>
      <Sparkline values={values} width={32} color={color} />
    </Box>
  );
}

export function TrainDashboard({ state }: { state: DashboardState }) {
  const s = state;
  const frac = s.totalKimg > 0 ? s.kimg / s.totalKimg : 0;
  const h = s.history;
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text bold>
        alae train · {s.title} <Text dimColor>({s.backend}, data {s.dataset})</Text>
      </Text>
      <Box marginTop={1}>
        <Text>
          lod <Text bold>{s.lod ?? '-'}</Text> · {s.resolution ? `${s.resolution}x${s.resolution}` : '-'} · blend {s.blend.toFixed(3)}
          {s.inTransition ? <Text color="yellow"> (fading in)</Text> : null}
        </Text>
      </Box>
      <Text>
        {bar(frac, 30)} {(frac * 100).toFixed(1)}% · {s.kimg.toFixed(3)} / {s.totalKimg.toFixed(3)} kimg
      </Text>
      <Text>
        {s.imgPerSec !== null ? `${s.imgPerSec.toFixed(2)} img/s` : '- img/s'} · ETA {formatDuration(s.etaSec)}
      </Text>
      <Box flexDirection="column" marginTop={1}>
        <LossRow name="D" values={h.d} last={s.last?.d ?? h.d.at(-1)} color="red" />
        <LossRow name="G" values={h.g} last={s.last?.g ?? h.g.at(-1)} color="green" />
        <LossRow name="AE" values={h.ae} last={s.last?.ae ?? h.ae.at(-1)} color="cyan" />
      </Box>
      <Box flexDirection="column" marginTop={1}>
        <Text dimColor>sample     {s.samplePath ?? '-'}</Text>
        <Text dimColor>checkpoint {s.checkpointPath ?? '-'}</Text>
        <Text dimColor>output     {s.outDir}</Text>
      </Box>
      <Text color="gray">{s.status}</Text>
    </Box>
  );
}
