// `harvester bundle`: builds the offline bundle (src/install/) for a host without network, and maybe without
// Node.js, and prints where it is and its digest, for operators who move the file by their own means.
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { CliContext } from '../context.js';

interface BundleOptions {
  node: 'bundled' | 'system';
  platform: string;
  runtimeFile?: string;
  out?: string | true;
}

function nodeChoice(value: string): 'bundled' | 'system' {
  if (value !== 'bundled' && value !== 'system') throw new InvalidArgumentError("expected 'bundled' (Node.js in the bundle) or 'system' (node from the host's PATH)");
  return value;
}

export function registerBundleCommand(program: Command): void {
  program
    .command('bundle')
    .description('build the offline bundle of the bot (one .tar.gz, with Node.js unless --node system) for hosts without network')
    .option('--node <kind>', "'bundled': carry Node.js for --platform; 'system': use node (>= 20.9) from the host's PATH", nodeChoice, 'bundled')
    .option('--platform <os-arch>', "the target host's platform, for --node bundled", 'linux-x64')
    .option('--runtime-file <file>', 'the node-<os>-<arch>-<version>.tgz to use instead of downloading it (verified the same way)')
    .option('--out [dir]', 'also copy the archive into this directory (without a value: the current directory)')
    .action(async (opts: BundleOptions, command: Command) => {
      // Loaded here, not with the CLI: node-tar and the install layer are only for this command.
      const { buildBundle, parsePlatform } = await import('../../install/index.js');
      const ctx = CliContext.fromCommand(command, 'bundle.log');
      const runtime = opts.node === 'bundled' ? { kind: 'bundled' as const, platform: parsePlatform(opts.platform) } : { kind: 'system' as const };
      const built = await buildBundle({
        runtime,
        runtimeFile: opts.runtimeFile,
        log: ctx.log,
        progress: (line) => process.stderr.write(`harvester: ${line}\n`),
      });
      let path = built.path;
      if (opts.out !== undefined) {
        const dir = resolve(opts.out === true ? '.' : opts.out);
        await mkdir(dir, { recursive: true });
        path = join(dir, basename(built.path));
        await copyFile(built.path, path);
      }
      process.stdout.write(
        [
          `path    ${path}`,
          `id      ${built.id}`,
          `size    ${megabytes(built.bytes)} (${built.bytes} bytes; ${megabytes(built.unpackedBytes)} unpacked)`,
          `sha256  ${built.sha256}`,
        ].join('\n') + '\n',
      );
    });
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
