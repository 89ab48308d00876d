/**
 * The `alae tui` root component: lays the views out for the terminal size,
 * maps keys to controller actions, and hands image positions to the
 * graphics overlay (kitty, iTerm2, sixel) when images are not half-blocks.
 */
import { useEffect, useState, useSyncExternalStore } from 'react';
import { Box, Text, useApp, useInput, useStdout, type Key } from 'ink';
import type { TuiController, TuiSnapshot } from './controller.js';
import { computeLayout, placeImage, type Layout } from './layout.js';
import { FileList, Header, Help, Hints, ImagePane, LevelsBar, StatusLine } from './views.js';
import type { GraphicsMode } from '../image/detect.js';
import type { Placement, PlacementSink } from '../image/overlay.js';
import { BLOCK_CELL, type CellSize } from '../image/resample.js';

export interface TerminalSize {
  columns: number;
  rows: number;
}

/** A source of the terminal size that tells when it changes (run.tsx updates it before ink hears of a resize). */
export interface SizeSource {
  get(): TerminalSize;
  subscribe(fn: () => void): () => void;
}

export interface TuiAppProps {
  controller: TuiController;
  /** How images are drawn (default blocks). */
  graphics?: GraphicsMode;
  /** Half-blocks in 24-bit colour (default) or 256 colours. */
  trueColor?: boolean;
  /** Told where the images go (kitty/iterm/sixel: the Screen's overlay draws them). */
  overlay?: PlacementSink;
  /** Pixel size of a cell (sixel; kitty/iterm only use its aspect). Default: 1 x 2. */
  cell?: CellSize;
  /** A fixed size (tests), else sizeSource, else stdout's size and 'resize' events. */
  size?: TerminalSize;
  sizeSource?: SizeSource;
  /** Spinner period (ms). */
  tickMs?: number;
  /** A longer spinner period when frames are slow to draw (ms; see run.tsx). */
  tickDelay?: () => number;
  /** Called when the user quits (after ink exits). */
  onQuit?: () => void;
}

const noSubscribe = () => () => undefined;

/** The terminal size: fixed, from a source, or from stdout (redrawn on 'resize'). */
export function useTerminalSize(fixed?: TerminalSize, source?: SizeSource): TerminalSize {
  const { stdout } = useStdout();
  const read = (): TerminalSize => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [own, setOwn] = useState<TerminalSize>(read);
  const fromSource = useSyncExternalStore(source ? source.subscribe : noSubscribe, source ? source.get : () => null);
  useEffect(() => {
    if (fixed || source) return;
    const onResize = () => setOwn(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, fixed, source]);
  return fixed ?? fromSource ?? own;
}

export interface KeyContext {
  quit: () => void;
  /** Rows of the file list (for PgUp/PgDn). */
  page: number;
}

const NO_KEY: Key = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
  super: false,
  hyper: false,
  capsLock: false,
  numLock: false,
};

/**
 * One key press: what it does depends on the mode (help, filtering,
 * browse, mix). Keys typed faster than they are read arrive together
 * ("jj"): outside the filter each is handled in turn. Exported for tests.
 */
export function handleKey(c: TuiController, input: string, key: Key, ctx: KeyContext): void {
  const snap = c.getSnapshot();
  if (key.ctrl && input === 'c') return ctx.quit();
  const plain = !key.ctrl && !key.meta && !key.escape && !key.return && !key.tab && !key.backspace && !key.delete;
  if (!snap.filtering && plain && [...input].length > 1) {
    for (const ch of input) handleKey(c, ch, NO_KEY, ctx);
    return;
  }
  if (snap.filtering) {
    if (key.escape) return c.clearFilter();
    if (key.return) return c.acceptFilter();
    if (key.backspace || key.delete) return c.backspaceFilter();
    if (key.upArrow) return c.move(-1);
    if (key.downArrow) return c.move(1);
    if (input && !key.ctrl && !key.meta && !key.tab) return c.typeFilter(input);
    return;
  }
  if (snap.help) {
    if (key.escape || input === '?') return c.closeHelp();
    if (input === 'q') return ctx.quit();
    return;
  }
  if (input === 'q') return ctx.quit();
  if (input === '?') return c.toggleHelp();
  if (key.escape) {
    if (c.cancel()) return;
    if (snap.filter) return c.clearFilter();
    if (snap.view === 'mix') return c.setView('browse');
    return c.setStatus(null);
  }
  if (key.tab || input === 'm') return c.toggleView();
  if (input === '+' || input === '=') return c.truncation(1);
  if (input === '-' || input === '_') return c.truncation(-1);
  if (input === 'r') return c.reroll();
  if (input === 'f') return c.refine();
  if (input === 's') return void c.save();
  if (input === '[' || input === ']') return c.stepFace(input === '[' ? -1 : 1, 'A');
  if (snap.view === 'browse') {
    if (key.upArrow || input === 'k') return c.move(-1);
    if (key.downArrow || input === 'j') return c.move(1);
    if (key.pageUp) return c.move(-ctx.page);
    if (key.pageDown) return c.move(ctx.page);
    if (key.home || input === 'g') return c.moveTo('first');
    if (key.end || input === 'G') return c.moveTo('last');
    if (input === '/') return c.startFilter();
    if (input === 'a') return c.pick('A');
    if (input === 'b') return c.pick('B');
    if (/^[1-9]$/.test(input)) return c.setStatus({ kind: 'info', text: 'levels are toggled in the mixing view: press m' });
    return;
  }
  // mix
  if (/^[1-9]$/.test(input)) return c.toggleLevel(Number(input) - 1);
  if (key.rightArrow || input === 'a') return c.step('A', 1);
  if (key.leftArrow || input === 'A') return c.step('A', -1);
  if (key.downArrow || input === 'b') return c.step('B', 1);
  if (key.upArrow || input === 'B') return c.step('B', -1);
  if (input === 'x') return c.swap();
  if (input === '{' || input === '}') return c.stepFace(input === '{' ? -1 : 1, 'B');
  if (input === '/') {
    c.setView('browse');
    return c.startFilter();
  }
}

/** Where the overlay draws each pane's image (none while the help is up). */
export function placementsFor(snap: TuiSnapshot, layout: Layout, cell: CellSize): Placement[] {
  if (snap.help || layout.tooSmall) return [];
  const out: Placement[] = [];
  snap.panes.forEach((p, i) => {
    const rect = layout.panes[i];
    if (!p.image || !rect) return;
    const f = placeImage(rect, p.image.width, p.image.height, cell);
    if (f.cols < 1 || f.rows < 1) return;
    out.push({ image: p.image, row: f.y, col: f.x, cols: f.cols, rows: f.rows, pxWidth: f.pxWidth, pxHeight: f.pxHeight });
  });
  return out;
}

export function TuiApp({ controller, graphics = 'blocks', trueColor = true, overlay, cell = BLOCK_CELL, size, sizeSource, tickMs, tickDelay, onQuit }: TuiAppProps) {
  const snap = useSyncExternalStore(controller.subscribe, controller.getSnapshot);
  const { columns, rows } = useTerminalSize(size, sizeSource);
  const layout = computeLayout(snap.view, columns, rows);
  const { exit } = useApp();
  const quit = () => {
    exit();
    onQuit?.();
  };
  useInput((input, key) => handleKey(controller, input, key, { quit, page: Math.max(1, (layout.list?.height ?? 10) - 2) }));

  const imageCell = graphics === 'blocks' ? BLOCK_CELL : cell;
  // Staged during render: the Screen draws them right after this frame's text (see screen.ts).
  overlay?.stage(graphics === 'blocks' ? [] : placementsFor(snap, layout, imageCell));

  if (layout.tooSmall) {
    return (
      <Box width={layout.columns} height={layout.height}>
        <Text wrap="wrap">
          alae tui needs at least 40×10 cells (this terminal: {columns}×{rows}). Enlarge it, or press q to quit.
        </Text>
      </Box>
    );
  }
  return (
    <Box flexDirection="column" width={layout.columns} height={layout.height}>
      <Header snap={snap} width={layout.columns} />
      {snap.help ? (
        <Help snap={snap} rect={layout.body} graphics={graphics} outDir={controller.outDir} />
      ) : (
        <Box flexDirection="column" width={layout.columns} height={layout.body.height}>
          {layout.levels ? <LevelsBar snap={snap} width={layout.columns} /> : null}
          <Box flexDirection="row" width={layout.columns} height={layout.panes[0]?.height ?? layout.body.height}>
            {layout.list ? (
              <Box width={layout.list.width + 1}>
                <FileList snap={snap} rect={layout.list} />
              </Box>
            ) : null}
            {layout.panes.map((rect, i) => (
              <Box key={i} width={rect.width + (i < layout.panes.length - 1 ? 1 : 0)}>
                {snap.panes[i] ? <ImagePane pane={snap.panes[i]} rect={rect} graphics={graphics} trueColor={trueColor} cell={imageCell} /> : null}
              </Box>
            ))}
          </Box>
        </Box>
      )}
      <StatusLine snap={snap} width={layout.columns} tickMs={tickMs} delay={tickDelay} />
      <Hints snap={snap} width={layout.columns} />
    </Box>
  );
}
