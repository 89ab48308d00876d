/** `alae info <preset|model|checkpoint|file.pth>`: the config and parameter counts per network; what a file holds. */
import { existsSync } from 'node:fs';
import { parse } from './args.js';
import { PRESET_NAMES, resolveConfig, resolutionOf, type AlaeConfig } from '../config/config.js';
import { countParams, NETWORKS, paramSpecs } from '../model/params.js';
import { readModelFile } from '../io/model-file.js';
import { sniffWeightsFile } from '../io/open.js';
import { type ModelEntry, readReferenceContents, referenceName } from '../io/import.js';
import { readCheckpointProgress } from '../train/checkpoint.js';
import { AlaeError } from '../errors.js';
import { bundledModel, DEFAULT_MODEL } from '../api/bundled.js';

const NETWORK_LABEL: Record<string, string> = { encoder: 'E (encoder)', mapping_d: 'D (mapping_d)', decoder: 'G (generator)', mapping_f: 'F (mapping_f)' };

function decay(cfg: AlaeConfig): string {
  const t = cfg.train;
  return t.learningDecaySteps.length ? `, times ${t.learningDecayRate} from epoch${t.learningDecaySteps.length > 1 ? 's' : ''} ${t.learningDecaySteps.join(', ')}` : '';
}

/** Where a training checkpoint stands: what `alae info <checkpoint>` adds to its config. */
async function describeCheckpoint(file: string): Promise<{ cfg: AlaeConfig; extra: string }> {
  const { config, progress: p } = await readCheckpointProgress(file);
  const h = Math.floor(p.elapsedSec / 3600);
  const m = Math.round((p.elapsedSec - 3600 * h) / 60);
  return {
    cfg: config,
    extra:
      `\nfile              ${file}` +
      `\ncheckpoint        kimg ${(p.imagesTotal / 1000).toFixed(3)}, epoch ${p.epoch} (image ${p.imagesIntoEpoch} of ${p.epochImages}), lod ${p.lod}, iteration ${p.iteration}, ${h} h ${m} min of training` +
      `\n                  (alae train --resume ${file} continues it; other commands load its averaged networks)`,
  };
}

/**
 * What a reference .pth holds, from its header (no tensor data is read):
 * each network of both copies with its parameter count ('None': saved as
 * None, '-': absent), dlatent_avg, the auxiliary states, what is ignored.
 */
async function describeReference(file: string): Promise<{ cfg: AlaeConfig | null; extra: string }> {
  const { contents: c, format } = await readReferenceContents(file);
  const byName = new Map(c.models.map((m) => [m.name, m]));
  const count = (m: ModelEntry | undefined): string => {
    if (!m || m.state === 'absent') return '-';
    if (m.state === 'None') return 'None';
    return (m.params ?? m.values).toLocaleString('en-US');
  };
  const avg = byName.get('dlatent_avg');
  const aux = c.auxiliary?.map((a) => `${a.name}${a.states !== undefined ? ` (${a.states} parameter states)` : ''}${a.epoch !== undefined ? ` (epoch ${a.epoch})` : ''}`);
  const lines = [
    `file              ${file} (reference checkpoint, PyTorch ${format} format)`,
    `networks          ${'trained'.padStart(12)}${'averaged (*_s)'.padStart(18)}   (${c.config ? 'parameters' : 'values'}; None: saved as None, -: absent)`,
    ...NETWORKS.map((n) => `  ${NETWORK_LABEL[n].padEnd(16)}${count(byName.get(referenceName(n, 'trained'))).padStart(12)}${count(byName.get(referenceName(n, 'averaged'))).padStart(18)}`),
    `  ${'dlatent_avg'.padEnd(16)}${avg?.state === 'present' ? `${avg.values.toLocaleString('en-US')} values` : `${avg?.state === 'None' ? 'None' : 'missing'} (the average w is then zeros: truncation pulls toward 0)`}`,
    `auxiliary         ${aux ? aux.join(', ') || 'empty' : "none (no 'auxiliary' entry)"}`,
  ];
  if (c.ignored.length) lines.push(`ignored           ${c.ignored.join(', ')} (the reference does not load them)`);
  if (c.problem) lines.push(`does not import: ${c.problem}`);
  return { cfg: c.config, extra: '\n' + lines.join('\n') };
}

/** Text describing a config: architecture and parameter counts. */
export function describeConfig(cfg: AlaeConfig): string {
  const m = cfg.model;
  const specs = paramSpecs(m);
  const lines = [
    `name              ${cfg.name}`,
    `resolution        ${resolutionOf(m)}x${resolutionOf(m)}, ${m.channels} channel${m.channels > 1 ? 's' : ''}`,
    `layer count       ${m.layerCount} (style slots ${2 * m.layerCount})`,
    `channels          start ${m.startChannels}, max ${m.maxChannels}`,
    `latent            ${m.latentSize}, mapping layers ${m.mappingLayers}`,
    `truncation        psi ${m.truncationPsi}, cutoff ${m.truncationCutoff}; dlatent avg beta ${m.dlatentAvgBeta}; style mixing p ${m.styleMixingProb}`,
    `training          ${cfg.train.epochsPerLod} epochs/lod, ${cfg.train.trainEpochs} epochs; batch per lod [${cfg.train.lodBatch.join(', ')}]; lr [${cfg.train.learningRates.join(', ')}]${decay(cfg)}`,
    'parameters',
  ];
  for (const n of NETWORKS) lines.push(`  ${NETWORK_LABEL[n].padEnd(16)}${countParams(specs, n).toLocaleString('en-US').padStart(14)}`);
  lines.push(`  ${'total'.padEnd(16)}${countParams(specs).toLocaleString('en-US').padStart(14)}`);
  return lines.join('\n');
}

/** One line per preset and the bundled model: what `alae info` prints with no arguments. */
export async function overview(): Promise<string> {
  const lines = ['presets:'];
  for (const name of PRESET_NAMES) {
    const cfg = resolveConfig(name);
    const r = resolutionOf(cfg.model);
    lines.push(`  ${name.padEnd(14)} ${`${r}x${r}x${cfg.model.channels}`.padEnd(12)} ${countParams(paramSpecs(cfg.model)).toLocaleString('en-US').padStart(12)} parameters`);
  }
  lines.push('bundled model:');
  if (existsSync(DEFAULT_MODEL)) {
    const { config, metadata } = await readModelFile(DEFAULT_MODEL);
    const r = resolutionOf(config.model);
    const trained = metadata.kimg ? `, trained on ${metadata.kimg} kimg` : '';
    lines.push(`  ${DEFAULT_MODEL}`, `  ${config.name}, ${r}x${r}x${config.model.channels}${trained} ('alae info bundled' for details; 'alae demo' runs it)`);
  } else {
    lines.push(`  none in this install (${DEFAULT_MODEL} is missing)`);
  }
  return lines.join('\n');
}

export async function infoCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) {
    process.stdout.write(`usage: alae info [<preset|model.safetensors|checkpoint.safetensors|model.pth|bundled>...]\n  with no argument: the presets and the bundled model\n  presets: ${PRESET_NAMES.join(', ')}\n`);
    return 0;
  }
  if (positionals.length === 0) {
    process.stdout.write((await overview()) + '\n');
    return 0;
  }
  let status = 0;
  for (const what of positionals) {
    try {
      let cfg: AlaeConfig | null;
      let extra = '';
      if (PRESET_NAMES.includes(what)) cfg = resolveConfig(what);
      else {
        const file = what === 'bundled' ? bundledModel() : what;
        if (!existsSync(file)) throw new AlaeError(`not a preset (${PRESET_NAMES.join(', ')}), 'bundled', nor a model file`, what);
        const kind = await sniffWeightsFile(file);
        if (kind === 'checkpoint') ({ cfg, extra } = await describeCheckpoint(file));
        else if (kind === 'reference') ({ cfg, extra } = await describeReference(file));
        else {
          const m = await readModelFile(file);
          cfg = m.config;
          extra = `\nfile              ${file}${m.metadata.source ? `\nsource            ${m.metadata.source}${m.metadata.kimg ? `, ${m.metadata.kimg} kimg` : ''}` : ''}`;
        }
      }
      process.stdout.write((cfg ? describeConfig(cfg) + extra : extra.slice(1)) + '\n');
    } catch (e) {
      process.stderr.write(`alae info: ${(e as Error).message}\n`);
      status = 1;
    }
  }
  return status;
}
