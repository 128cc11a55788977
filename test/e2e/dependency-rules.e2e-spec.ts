import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/process';

const execFileAsync = promisify(execFile);
const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

/** Runs the rules of `npm run deps` over a tree of these files; its exit code and report. */
async function cruise(files: Record<string, string>): Promise<{ code: number; report: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pis-deps-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    copyFileSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    return await execFileAsync(DEPCRUISE, ['src', '--config', CONFIG], { cwd: dir }).then(
      ({ stdout }) => ({ code: 0, report: stdout }),
      (error: { code?: unknown; stdout?: string }) => {
        // A rule broken: depcruise exits with the number of violations.
        if (typeof error.code !== 'number') throw error;
        return { code: error.code, report: error.stdout ?? '' };
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('The dependency rules (npm run deps, part of npm run lint)', () => {
  it('fail on a deliberately bad import: sharp outside the codec, products reaching into images', async () => {
    const { code, report } = await cruise({
      'src/images/gallery.ts': 'export const gallery = 1;\n',
      'src/products/bad.ts':
        "import sharp from 'sharp';\nimport { gallery } from '../images/gallery';\n" +
        'export const bad = [sharp, gallery];\n',
    });
    expect(code).not.toBe(0);
    expect(report).toContain('sharp-only-in-the-codec: src/products/bad.ts');
    expect(report).toContain(
      'products-know-no-images: src/products/bad.ts → src/images/gallery.ts',
    );
  });

  it('fail on an import cycle that exists at run time, and pass a clean tree', async () => {
    const cycle = await cruise({
      'src/common/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
      'src/common/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
    });
    expect(cycle.code).not.toBe(0);
    expect(cycle.report).toContain('no-circular');
    const clean = await cruise({
      'src/images/gallery.ts': "import { a } from '../common/a';\nexport const g = a;\n",
      'src/common/a.ts': 'export const a = 1;\n',
    });
    expect(clean).toEqual({ code: 0, report: expect.stringContaining('no dependency violations') });
  });
});
