/**
 * The import rules of ARCHITECTURE.md ("Layers"), checked by `npm test`
 * (`npm run lint:layers`) before the tests run.
 *
 * LEVELS lists the folders of src/ from the bottom up. A folder may import
 * the folders of lower levels only: never a folder of its own level, never
 * one above. src/tf.ts and src/errors.ts sit below everything; src/index.ts
 * (the package's entry) may import everything but the terminal front ends.
 */
const LEVELS = [
  ['util'],
  ['config', 'nn', 'image'],
  ['backend', 'model', 'data'],
  ['io', 'face'],
  ['train', 'api'],
  ['eval', 'parity', 'bench', 'demo'],
  ['tui'],
  ['cli'],
];

const folders = (list) => `^src/(${list.join('|')})/`;

const layerRules = LEVELS.flatMap((level, k) =>
  level.map((folder) => {
    const above = LEVELS.slice(k).flat().filter((f) => f !== folder);
    const below = LEVELS.slice(0, k).flat();
    return {
      name: `layer-${folder}`,
      comment: `src/${folder} may import ${below.length ? below.join(', ') : 'no other folder'} (and src/tf.ts, src/errors.ts); not ${above.join(', ')}`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: folders(above) },
    };
  }),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'base-files',
      comment: 'src/tf.ts and src/errors.ts are the bottom: they import nothing of the project',
      severity: 'error',
      from: { path: '^src/(tf|errors)\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'entry-not-front-ends',
      comment: 'the package entry (src/index.ts) exports the library, not the terminal front ends',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: folders(['tui', 'cli']) },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles (type-only imports aside: they vanish at run time)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    includeOnly: '^src/',
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a type from a higher layer is a dependency all the same.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js'] },
  },
};
