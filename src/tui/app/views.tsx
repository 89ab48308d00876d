/**
 * The TUI's ink components. They draw a TuiSnapshot into the rectangles of
 * a Layout and hold no state of their own but the spinner's tick.
 */
import { useEffect, useState, type ReactElement } from 'react';
import { Box, Text } from 'ink';
import path from 'node:path';
import type { RawImage } from '../../image/image.js';
import { renderBlocks } from '../image/blocks.js';
import { placeholderFor, safeText } from '../image/placeholder.js';
import { BLOCK_CELL, type CellSize } from '../image/resample.js';
import type { GraphicsMode } from '../image/detect.js';
import type { PaneState, TuiSnapshot } from './controller.js';
import { imageBox, placeImage, type Rect } from './layout.js';

export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

function clip(text: string, width: number): string {
  if (width <= 0) return '';
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

function pad(text: string, width: number): string {
  const t = clip(text, width);
  return t + ' '.repeat(Math.max(0, width - t.length));
}

export function Header({ snap, width }: { snap: TuiSnapshot; width: number }) {
  const i = snap.info;
  const model = `${safeText(path.basename(i.file))} · ${i.resolution}×${i.resolution} · ${i.styleSlots} styles · ${i.backend}`;
  const right = `seed ${snap.seed} · ψ ${snap.psi.toFixed(1)} · ${snap.view === 'browse' ? 'browse' : 'mix'}`;
  const left = clip(`alae tui · ${model}`, Math.max(0, width - right.length - 2));
  return (
    <Box width={width} height={1}>
      <Text bold wrap="truncate">
        {left}
        {' '.repeat(Math.max(1, width - left.length - right.length))}
        <Text color="cyan">{right}</Text>
      </Text>
    </Box>
  );
}

export function FileList({ snap, rect }: { snap: TuiSnapshot; rect: Rect }) {
  const showFilter = snap.filtering || snap.filter !== '';
  const title = `images ${snap.visible.length === snap.files.length ? snap.files.length : `${snap.visible.length}/${snap.files.length}`}`;
  const rowsForItems = Math.max(1, rect.height - 1 - (showFilter ? 1 : 0));
  // Keep the cursor in view: a window of rowsForItems around it.
  const start = Math.max(0, Math.min(snap.cursor - Math.floor(rowsForItems / 2), snap.visible.length - rowsForItems));
  const items = snap.visible.slice(start, start + rowsForItems);
  const w = rect.width;
  return (
    <Box flexDirection="column" width={w} height={rect.height}>
      <Text bold wrap="truncate">
        {pad(title, w)}
      </Text>
      {showFilter ? (
        <Text color={snap.filtering ? 'yellow' : 'gray'} wrap="truncate">
          {pad(`/${safeText(snap.filter)}${snap.filtering ? '▏' : ''}`, w)}
        </Text>
      ) : null}
      {snap.visible.length === 0 ? <Text color="gray">{pad('(no match)', w)}</Text> : null}
      {items.map((fi, k) => {
        const file = snap.files[fi];
        const selected = start + k === snap.cursor;
        const tag = `${snap.a === fi ? 'A' : ' '}${snap.b === fi ? 'B' : ' '}`;
        const bad = snap.failed.has(file);
        return (
          <Text key={fi} inverse={selected} color={bad ? 'red' : undefined} wrap="truncate">
            {pad(`${selected ? '›' : ' '}${tag} ${bad ? '✗ ' : ''}${safeText(path.basename(file))}`, w)}
          </Text>
        );
      })}
    </Box>
  );
}

/** Half-block lines of an image, cached per image and size (redraws are free). */
const blockCache = new WeakMap<RawImage, Map<string, string[]>>();
function blockLines(img: RawImage, cols: number, rows: number, pxW: number, pxH: number, trueColor: boolean): string[] {
  let m = blockCache.get(img);
  if (!m) {
    m = new Map();
    blockCache.set(img, m);
  }
  const key = `${cols}x${rows}:${pxW}x${pxH}:${trueColor ? 24 : 8}`;
  let lines = m.get(key);
  if (!lines) {
    lines = renderBlocks(img, cols, rows, { trueColor, pxWidth: pxW, pxHeight: pxH });
    m.set(key, lines);
  }
  return lines;
}

export interface ImagePaneProps {
  pane: PaneState;
  rect: Rect;
  graphics: GraphicsMode;
  trueColor: boolean;
  cell: CellSize;
}

/**
 * A title row, then the image: half-block rows (as placeholders that the
 * Screen swaps for the real rows: see src/tui/image/placeholder.ts), or
 * (other protocols) blank cells the graphics overlay draws into. A note
 * (working, error) goes in the title row when there is an image, in the box
 * when not. Not memoised: each render keeps its rows' placeholders alive.
 */
export function ImagePane({ pane, rect, graphics, trueColor, cell }: ImagePaneProps) {
  const box = imageBox(rect);
  const w = rect.width;
  const named = pane.face ? `${pane.face} · ${pane.title}` : pane.title;
  const title = safeText(pane.image && pane.note ? `${named} · ${pane.note}` : named);
  const rows: ReactElement[] = [];
  if (pane.image) {
    const fit = placeImage(rect, pane.image.width, pane.image.height, graphics === 'blocks' ? BLOCK_CELL : cell);
    const left = ' '.repeat(fit.x - rect.x);
    const right = ' '.repeat(Math.max(0, w - (fit.x - rect.x) - fit.cols));
    const lines = graphics === 'blocks' ? blockLines(pane.image, fit.cols, fit.rows, fit.pxWidth, fit.pxHeight, trueColor) : null;
    for (let r = 0; r < fit.rows; r++) {
      rows.push(
        <Text key={r} wrap="truncate">
          {left}
          {lines ? placeholderFor(lines[r], fit.cols) : ' '.repeat(fit.cols)}
          {right}
        </Text>,
      );
    }
  } else if (box.height > 0) {
    rows.push(
      <Text key="note" color={pane.error ? 'red' : 'gray'} wrap="wrap">
        {safeText(pane.note)}
      </Text>,
    );
  }
  // Image rows fit their box exactly: no clipping (ink would slice every row, every frame).
  return (
    <Box flexDirection="column" width={w} height={rect.height}>
      <Text bold color={pane.error ? 'red' : undefined} wrap="truncate">
        {pad(title, w)}
      </Text>
      <Box flexDirection="column" width={w} height={box.height} overflow={pane.image ? 'visible' : 'hidden'}>
        {rows}
      </Box>
    </Box>
  );
}

export function LevelsBar({ snap, width }: { snap: TuiSnapshot; width: number }) {
  return (
    <Box width={width} height={1}>
      <Text wrap="truncate">
        {snap.levels.map((l, i) => (
          <Text key={l.name}>
            {i > 0 ? '   ' : ''}
            <Text color="yellow">[{i + 1}]</Text> {l.name} {l.from}-{l.to - 1}:{' '}
            <Text bold inverse color={snap.choice[i] === 'A' ? 'green' : 'magenta'}>
              {` ${snap.choice[i]} `}
            </Text>
          </Text>
        ))}
        <Text color="gray">{'   (1-' + snap.levels.length + ' toggle, x swap A/B)'}</Text>
      </Text>
    </Box>
  );
}

export function formatElapsed(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/**
 * The spinner and elapsed time while working, then the last message. Its
 * own timer redraws it; ink redraws the whole frame each time (image rows
 * included), so `delay` can stretch the period when frames are slow to
 * draw (big terminals) and the spinner never eats the UI thread.
 */
export function StatusLine({ snap, width, tickMs = 100, delay, now = Date.now }: { snap: TuiSnapshot; width: number; tickMs?: number; delay?: () => number; now?: () => number }) {
  const [tick, setTick] = useState(0);
  const busy = snap.busy;
  useEffect(() => {
    if (!busy) return;
    let timer: NodeJS.Timeout;
    const next = () => {
      timer = setTimeout(() => {
        setTick((x) => x + 1);
        next();
      }, Math.max(tickMs, delay?.() ?? 0));
    };
    next();
    return () => clearTimeout(timer);
  }, [busy, tickMs, delay]);
  const work = busy ? `${SPINNER[tick % SPINNER.length]} ${safeText(busy.label)}… ${formatElapsed(Math.max(0, now() - busy.since))} (Esc cancels)` : '';
  const msg = snap.status;
  const color = msg?.kind === 'error' ? 'red' : msg?.kind === 'ok' ? 'green' : undefined;
  const text = msg ? `${msg.kind === 'error' ? '✗ ' : msg.kind === 'ok' ? '✓ ' : ''}${safeText(msg.text)}` : busy ? '' : 'ready';
  return (
    <Box width={width} height={1}>
      <Text wrap="truncate">
        {work ? <Text color="yellow">{work}</Text> : null}
        {work && text ? '  ' : ''}
        <Text color={color}>{text}</Text>
      </Text>
    </Box>
  );
}

export function Hints({ snap, width }: { snap: TuiSnapshot; width: number }) {
  const text = snap.filtering
    ? 'type to filter · ↑↓ move · Enter keep · Esc clear'
    : snap.view === 'browse'
      ? '↑↓ select · / filter · a/b pick · m mix · ±ψ · r seed · s save · ? help · q quit'
      : '1-3 levels · ←→ A · ↑↓ B · x swap · ±ψ · r seed · s save · m back · ? help · q quit';
  return (
    <Box width={width} height={1}>
      <Text color="gray" wrap="truncate">
        {text}
      </Text>
    </Box>
  );
}

export const HELP_KEYS: [string, string][] = [
  ['↑ ↓ / k j', 'browse: select an image (PgUp PgDn Home End)'],
  ['/', 'filter the list by typing (Enter keeps it, Esc clears it)'],
  ['a / b', 'browse: make the selected image A / B'],
  ['m or Tab', 'switch between browsing and mixing'],
  ['1 2 3', 'mix: take coarse / middle / fine styles from the other image'],
  ['← → / a A', 'mix: step A through the images'],
  ['↑ ↓ / b B', 'mix: step B through the images'],
  ['x', 'mix: swap A and B'],
  ['[ ]', "the previous / next face of a group photo (browse: the selected image's; mix: A's)"],
  ['{ }', "mix: the previous / next face of B's group photo"],
  ['+ / -', 'truncation ψ up / down by 0.1 (1 = none, 0 = the average face)'],
  ['r', 're-roll the noise seed'],
  ['f', 'refine the face shown (mix: A, B) from E(x); Esc stops it; mixing then uses it'],
  ['s', 'save the image on the right as a PNG'],
  ['Esc', 'cancel the work in progress (else: close help, clear the filter, leave mixing)'],
  ['?', 'this help'],
  ['q / Ctrl-C', 'quit'],
];

export function Help({ snap, rect, graphics, outDir }: { snap: TuiSnapshot; rect: Rect; graphics: string; outDir: string }) {
  const keyW = 12;
  const levels = snap.levels.map((l) => `${l.name} = style slots ${l.from}-${l.to - 1}`).join(', ');
  return (
    <Box flexDirection="column" width={rect.width} height={rect.height} overflow="hidden" paddingX={1}>
      <Text bold>keys</Text>
      {HELP_KEYS.map(([k, v]) => (
        <Text key={k} wrap="truncate">
          <Text color="yellow">{k.padEnd(keyW)}</Text>
          {v}
        </Text>
      ))}
      <Text wrap="truncate"> </Text>
      <Text wrap="truncate" color="gray">
        levels: {levels}
      </Text>
      <Text wrap="truncate" color="gray">
        images drawn with {graphics} · saves go to {safeText(outDir)} · Esc or ? closes this help
      </Text>
    </Box>
  );
}
