/**
 * Where everything goes, in character cells, as a pure function of the
 * view and the terminal size (so the graphics overlay knows the image
 * cells without measuring ink's layout). The frame is one line shorter
 * than the terminal: ink then redraws it in place without scrolling.
 *
 *   row 0            header: model, seed, truncation, view
 *   rows 1..H-3      body: browse = file list | photo | reconstruction
 *                          mix    = levels bar over A | B | mix
 *   row H-2          status line (spinner, errors, saved paths)
 *   row H-1          key hints
 */
import { fitImage, type CellSize, type Fit } from '../image/resample.js';
import type { ViewName } from './controller.js';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Layout {
  columns: number;
  /** Frame lines (terminal rows - 1). */
  height: number;
  /** Too small to lay out: show a message instead. */
  tooSmall: boolean;
  header: Rect;
  body: Rect;
  status: Rect;
  hints: Rect;
  /** The file list (browse). */
  list: Rect | null;
  /** The row of level toggles (mix). */
  levels: Rect | null;
  /** Image panes, left to right: a title row, then the image box. */
  panes: Rect[];
}

export const MIN_COLUMNS = 40;
export const MIN_ROWS = 10;

export function computeLayout(view: ViewName, columns: number, rows: number): Layout {
  const W = Math.max(1, columns);
  const H = Math.max(1, rows - 1);
  const tooSmall = W < MIN_COLUMNS || rows < MIN_ROWS;
  const body: Rect = { x: 0, y: 1, width: W, height: Math.max(0, H - 3) };
  const base = {
    columns: W,
    height: H,
    tooSmall,
    header: { x: 0, y: 0, width: W, height: 1 },
    body,
    status: { x: 0, y: H - 2, width: W, height: 1 },
    hints: { x: 0, y: H - 1, width: W, height: 1 },
  };
  if (tooSmall) return { ...base, list: null, levels: null, panes: [] };
  if (view === 'browse') {
    const listW = Math.max(16, Math.min(34, Math.floor(W * 0.22)));
    const areaX = listW + 1;
    const paneW = Math.floor((W - areaX - 1) / 2);
    return {
      ...base,
      list: { x: 0, y: body.y, width: listW, height: body.height },
      levels: null,
      panes: [0, 1].map((i) => ({ x: areaX + i * (paneW + 1), y: body.y, width: paneW, height: body.height })),
    };
  }
  const paneW = Math.floor((W - 2) / 3);
  return {
    ...base,
    list: null,
    levels: { x: 0, y: body.y, width: W, height: 1 },
    panes: [0, 1, 2].map((i) => ({ x: i * (paneW + 1), y: body.y + 1, width: paneW, height: body.height - 1 })),
  };
}

/** The part of a pane below its title row. */
export function imageBox(pane: Rect): Rect {
  return { x: pane.x, y: pane.y + 1, width: pane.width, height: Math.max(0, pane.height - 1) };
}

/** An image fitted into a pane's image box: the fit and its top-left cell (centred horizontally). */
export function placeImage(pane: Rect, imgWidth: number, imgHeight: number, cell: CellSize): Fit & { x: number; y: number } {
  const box = imageBox(pane);
  const fit = fitImage(imgWidth, imgHeight, box.width, box.height, cell);
  return { ...fit, x: box.x + Math.floor((box.width - fit.cols) / 2), y: box.y };
}
