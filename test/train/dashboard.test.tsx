import { describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import { TrainDashboard, emptyDashboard, formatDuration } from '../../src/tui/train-dashboard.js';
import { sparkline } from '../../src/tui/train/sparkline.js';
import { formatIterationLine, formatReportLine, normalizeResume } from '../../src/cli/train.js';

describe('train dashboard', () => {
  it('renders level, progress, speed, ETA, losses with trends and the last sample', () => {
    const s = emptyDashboard({ title: 'celeba-hq256', backend: 'webgpu', dataset: 'faces', outDir: 'runs/a' });
    Object.assign(s, {
      lod: 3,
      resolution: 32,
      blend: 0.25,
      inTransition: true,
      kimg: 120,
      totalKimg: 480,
      imgPerSec: 41.5,
      etaSec: 8700,
      history: { d: [3, 2, 1], g: [1, 2, 3], ae: [0.5, 0.5, 0.5] },
      last: { d: 0.75, g: 3.5, ae: 0.0123 },
      samplePath: 'runs/a/samples/sample-0000120000.png',
      status: 'iteration 9 (120 ms)',
    });
    const { lastFrame, unmount } = render(<TrainDashboard state={s} />);
    const f = lastFrame()!;
    expect(f).toContain('lod 3 · 32x32 · blend 0.250');
    expect(f).toContain('fading in');
    expect(f).toContain('25.0% · 120.000 / 480.000 kimg');
    expect(f).toContain('41.50 img/s · ETA 2h 25m');
    expect(f).toMatch(/D\s+0\.7500\s+█▅▁/);
    expect(f).toMatch(/G\s+3\.500\s+▁▅█/);
    expect(f).toContain('runs/a/samples/sample-0000120000.png');
    unmount();
  });

  it('sparkline scales between min and max; flat and non-finite values are handled', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([2, 2, 2])).toBe('▄▄▄');
    expect(sparkline([NaN, 1, Infinity, 0])).toBe('█▁');
    expect(sparkline([1, 2, 3, 4], 2)).toBe('▁█');
    expect(sparkline([])).toBe('');
  });

  it('formats durations, report and iteration lines', () => {
    expect([null, 42, 65, 3725, 90000].map(formatDuration)).toEqual(['-', '42s', '1m 05s', '1h 02m', '1d 01h']);
    const line = formatReportLine(
      { epoch: 2, lod: 1, resolution: 8, blend: 0.5, lr: 0.0015, kimg: 0.024, totalKimg: 0.048, imgPerSec: 3.21, etaSec: 7.5, losses: { d: 12.345, g: 0.5, ae: 1.25 }, samplePath: '/r/samples/s.png' },
      '/r',
    );
    expect(line).toBe('kimg 0.024/0.048 epoch 2 lod 1 8x8 blend 0.500 lr 0.0015 | d 12.35 g 0.5000 ae 1.250 | 3.21 img/s eta 8s | sample samples/s.png');
    const it = formatIterationLine({ iteration: 5, epoch: 2, lod: 1, resolution: 8, batch: 2, blend: 0, inTransition: true, lr: 0.0015, imagesTotal: 20, totalImages: 48, losses: { d: 1, g: 2, ae: 3 }, indices: Int32Array.from([4, 1]), ms: 12.4 });
    expect(it).toBe('iter 5 kimg 0.020 epoch 2 lod 1 blend 0.000 d 1.000 g 2.000 ae 3.000 batch [4,1] 12ms');
  });

  it('takes a bare --resume as the run in --out', () => {
    expect(normalizeResume(['--resume', '--out', 'x'])).toEqual(['--resume=', '--out', 'x']);
    expect(normalizeResume(['--out', 'x', '--resume'])).toEqual(['--out', 'x', '--resume=']);
    expect(normalizeResume(['--resume', 'a.pth'])).toEqual(['--resume', 'a.pth']);
  });
});
