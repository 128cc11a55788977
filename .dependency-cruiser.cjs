/**
 * The dependency rules of src/ (`npm run lint`, and so CI): dependencies point one way, each SDK
 * stays in its one file. Violations that predate a rule are listed in
 * .dependency-cruiser-known-violations.json (to be burnt down, never added to: regenerate it only
 * when removing entries, with `npm run deps:baseline`); anything new fails the build.
 */
const DOMAIN = '^src/(auth|products|images|storage|compat)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'An import cycle that exists at run time: one of the modules belongs elsewhere. (A cycle ' +
        'through a type-only import is erased by the compiler, and allowed.)',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'storage-knows-no-domain',
      severity: 'error',
      comment:
        'storage/ is infrastructure: it serves images and products, never imports them (its ' +
        '/media route may use the route-access decorators of auth/).',
      from: { path: '^src/storage/' },
      to: { path: '^src/(products|images|compat)/' },
    },
    {
      name: 'products-know-no-images',
      severity: 'error',
      comment:
        'products/ knows nothing of galleries or images: they enrich products, not the reverse.',
      from: { path: '^src/products/' },
      to: { path: '^src/(images|compat)/' },
    },
    {
      name: 'nothing-depends-on-compat',
      severity: 'error',
      comment: 'The compatible APIs are adapters at the edge: the main API never imports them.',
      from: { path: '^src/', pathNot: '^src/(compat/|app\\.module\\.ts$|app\\.factory\\.ts$)' },
      to: { path: '^src/compat/' },
    },
    {
      name: 'common-knows-no-domain',
      severity: 'error',
      comment: 'common/ is shared plumbing: it imports no domain folder.',
      from: { path: '^src/common/' },
      to: { path: DOMAIN },
    },
    {
      name: 'sharp-only-in-the-codec',
      severity: 'error',
      comment:
        'sharp is imported by the image codec only, and by the process that renders an SVG ' +
        '(svg-render.child.cjs: it runs alone, killed at its limits, and imports nothing of ours).',
      from: {
        path: '^src/',
        pathNot: '^src/images/processing/(image-codec\\.ts|svg-render\\.child\\.cjs)$',
      },
      to: { path: 'node_modules/sharp/' },
    },
    {
      name: 'aws-sdk-only-in-the-s3-provider',
      severity: 'error',
      comment: 'The AWS SDK is imported by the S3 storage provider only.',
      from: { path: '^src/', pathNot: '^src/storage/providers/s3\\.storage-provider\\.ts$' },
      to: { path: 'node_modules/@aws-sdk/' },
    },
    {
      name: 'cloudinary-only-in-its-provider',
      severity: 'error',
      comment: "Cloudinary's SDK is imported by the Cloudinary storage provider only.",
      from: {
        path: '^src/',
        pathNot: '^src/storage/providers/cloudinary\\.storage-provider\\.ts$',
      },
      to: { path: 'node_modules/cloudinary/' },
    },
    {
      name: 'controllers-hold-no-sql',
      severity: 'error',
      comment: 'A controller calls a service; TypeORM belongs to services and repositories.',
      from: { path: '\\.controller\\.ts$' },
      to: { path: 'node_modules/(typeorm|@nestjs/typeorm)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.spec\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
