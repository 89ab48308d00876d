/** `alae info <preset|model>`: the config and parameter counts per network. */
import { existsSync } from 'node:fs';
import { parse } from './args.js';
import { PRESET_NAMES, resolveConfig, resolutionOf, type AlaeConfig } from '../config/config.js';
import { countParams, NETWORKS, paramSpecs } from '../model/params.js';
import { readModelFile } from '../io/model-file.js';
import { AlaeError } from '../errors.js';

const NETWORK_LABEL: Record<string, string> = { encoder: 'E (encoder)', mapping_d: 'D (mapping_d)', decoder: 'G (generator)', mapping_f: 'F (mapping_f)' };

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
    `training          ${cfg.train.epochsPerLod} epochs/lod, ${cfg.train.trainEpochs} epochs; batch per lod [${cfg.train.lodBatch.join(', ')}]; lr [${cfg.train.learningRates.join(', ')}]`,
    'parameters',
  ];
  for (const n of NETWORKS) lines.push(`  ${NETWORK_LABEL[n].padEnd(16)}${countParams(specs, n).toLocaleString('en-US').padStart(14)}`);
  lines.push(`  ${'total'.padEnd(16)}${countParams(specs).toLocaleString('en-US').padStart(14)}`);
  return lines.join('\n');
}

export async function infoCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help || positionals.length === 0) {
    process.stdout.write(`usage: alae info <preset|model.safetensors>\n  presets: ${PRESET_NAMES.join(', ')}\n`);
    return values.help ? 0 : 2;
  }
  let status = 0;
  for (const what of positionals) {
    try {
      let cfg: AlaeConfig;
      if (PRESET_NAMES.includes(what)) cfg = resolveConfig(what);
      else if (existsSync(what)) cfg = (await readModelFile(what)).config;
      else throw new AlaeError(`not a preset (${PRESET_NAMES.join(', ')}) nor a model file`, what);
      process.stdout.write(describeConfig(cfg) + '\n');
    } catch (e) {
      process.stderr.write(`alae info: ${(e as Error).message}\n`);
      status = 1;
    }
  }
  return status;
}
