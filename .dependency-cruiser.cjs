/**
 * `npm run check`: no import cycle between the folders of src/ (Biome's noImportCycles sees
 * cycles between files only). A folder is one layer: src/cluster/ (the host's processes) uses
 * src/http/ and src/failover/, never the other way; files directly in src/ are shared by all.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycles',
      comment:
        'A folder of src/ reaches itself again through another: the two are one layer, or a module is in the wrong one.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
