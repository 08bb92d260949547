import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { generateLogSample, referenceCatalog } from '@accord/reference';
import { createAccord, type PublishItem, UsageError } from '@accord/sdk';
import { Ops } from '@accord/sdk/ops';

/** `sample`: writes the seeded sample, one file per service, and incidents.json (what the detector should find). */
export function writeSample(out: string, seed: number, minutes: number): { files: number; lines: number } {
  const sample = generateLogSample({ seed, minutes });
  mkdirSync(out, { recursive: true });
  for (const [service, lines] of Object.entries(sample.files))
    writeFileSync(join(out, `${service}.log`), `${lines.join('\n')}\n`);
  const incidents = sample.incidents.map((i) => ({
    service: i.service,
    start: new Date(i.start).toISOString(),
    end: new Date(i.end).toISOString(),
  }));
  writeFileSync(
    join(out, 'incidents.json'),
    `${JSON.stringify({ seed, minutes, lines: sample.lines, garbled: sample.garbled, incidents }, null, 2)}\n`,
  );
  return { files: Object.keys(sample.files).length, lines: sample.lines };
}

interface Line {
  service: string;
  text: string;
  /** The leading timestamp, or the previous line's when the line has none (a garbled line stays in place). */
  at: string;
}

/** Reads `<dir>/<service>.log` files: every line, merged in the order they were written across services. */
export function readLogDirectory(dir: string): Line[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.log'));
  } catch (error) {
    throw new UsageError(`cannot read the log directory ${dir}: ${(error as Error).message}`);
  }
  if (names.length === 0) throw new UsageError(`${dir} holds no <service>.log file`);
  const streams = names.sort().map((name) => {
    const service = name.slice(0, -'.log'.length);
    let at = '';
    return readFileSync(join(dir, name), 'utf8')
      .split('\n')
      .filter((text) => text !== '')
      .map((text): Line => {
        const first = text.split(' ', 1)[0] ?? '';
        if (/^\d{4}-\d{2}-\d{2}T/.test(first) && first.length >= 20) at = first;
        return { service, text, at };
      });
  });
  // A k-way merge by time (ISO strings compare as times), stable per file: as live shippers would send.
  const merged: Line[] = [];
  const heads = streams.map(() => 0);
  for (;;) {
    let best: { stream: number; line: Line } | undefined;
    streams.forEach((stream, i) => {
      const line = stream[heads[i] ?? 0];
      if (line && (!best || line.at < best.line.at)) best = { stream: i, line };
    });
    if (!best) return merged;
    merged.push(best.line);
    heads[best.stream] = (heads[best.stream] ?? 0) + 1;
  }
}

/**
 * `ingest`: ships the directory's lines to the raw topic as RawLogLine events (keyed by service, so one
 * service's lines stay in order on one partition), in batches, with progress on stderr.
 */
export async function ingest(
  dir: string,
  options: { batch?: number; once?: boolean; progress?: (done: number, total: number) => void } = {},
): Promise<{ lines: number; services: number; skipped?: number }> {
  const lines = readLogDirectory(dir);
  const services = new Set(lines.map((l) => l.service)).size;
  const accord = createAccord({ catalog: referenceCatalog });
  if (options.once) {
    const ops = await Ops.connect(accord.config);
    try {
      const there = await ops.topicRecords(referenceCatalog.eventsTopic('raw_log'));
      if (there > 0) {
        await accord.close();
        return { lines: 0, services, skipped: there };
      }
    } finally {
      await ops.close();
    }
  }
  const publisher = accord.publisher({ producer: 'log-shipper' });
  const host = hostname();
  const size = options.batch ?? 500;
  try {
    for (let i = 0; i < lines.length; i += size) {
      await publisher.publishMany(
        lines.slice(i, i + size).map(
          (l) =>
            ({
              type: 'accord.logs.RawLogLine',
              data: { service: l.service, host, line: l.text },
              options: { entityId: l.service },
            }) as PublishItem<never>,
        ),
      );
      options.progress?.(Math.min(i + size, lines.length), lines.length);
    }
  } finally {
    await accord.close();
  }
  return { lines: lines.length, services };
}
