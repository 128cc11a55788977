import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../support/process';

interface Service {
  image?: string;
  profiles?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
}

/** A value as Compose reads it with no environment: `${VAR:-default}` is its default. */
function withNoEnvironment(value: string): string {
  return value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
}

/**
 * docker-compose.yml's `observability` profile (npm run compose:check validates the file as
 * Compose does; this checks that its parts fit together): Prometheus scrapes every api replica
 * and worker with the token they answer, and Grafana gets Prometheus and the dashboard.
 */
describe('The observability profile of docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
  const { api, worker, prometheus, grafana } = compose.services;

  it('runs Prometheus and Grafana only in that profile, beside the service', () => {
    const inProfile = Object.entries(compose.services)
      .filter(([, service]) => service.profiles?.includes('observability'))
      .map(([name]) => name);
    expect(inProfile.sort()).toEqual(['grafana', 'prometheus']);
    expect(api.profiles).toBeUndefined();
    expect(worker.profiles).toBeUndefined();
  });

  it('has Prometheus scrape every api replica and worker with the token they answer', () => {
    const token = (service: Service) => withNoEnvironment(service.environment!.METRICS_TOKEN);
    expect(token(api)).toMatch(/^\S{32,}$/);
    expect(token(worker)).toBe(token(api));
    expect(token(prometheus)).toBe(token(api));

    const mounted = prometheus.volumes!.find((v) =>
      v.endsWith(':/etc/prometheus/prometheus.yml:ro'),
    );
    const config = parse(readFileSync(join(ROOT, mounted!.split(':')[0]), 'utf8')) as {
      scrape_configs: {
        job_name: string;
        authorization: { credentials_file: string };
        dns_sd_configs: { names: string[]; port: number }[];
      }[];
    };
    expect(
      config.scrape_configs.map((job) => [
        job.job_name,
        job.dns_sd_configs[0].names,
        job.dns_sd_configs[0].port,
      ]),
    ).toEqual([
      ['api', ['api'], 3000],
      ['worker', ['worker'], 3000],
    ]);
    // The file the container writes the token to before Prometheus starts.
    for (const job of config.scrape_configs) {
      expect(job.authorization.credentials_file).toBe('/prometheus/metrics-token');
    }
    expect(JSON.stringify(prometheus)).toContain('> /prometheus/metrics-token');
  });

  it('gives Grafana Prometheus as its data source and the dashboard', () => {
    const mounts = Object.fromEntries(
      grafana.volumes!.filter((v) => v.startsWith('./')).map((v) => v.split(':').slice(0, 2)),
    );
    for (const source of Object.keys(mounts)) expect(existsSync(join(ROOT, source))).toBe(true);
    const datasource = parse(
      readFileSync(
        join(ROOT, 'ops', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'),
        'utf8',
      ),
    ) as { datasources: { type: string; url: string }[] };
    expect(datasource.datasources).toEqual([
      expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090' }),
    ]);
    const provider = parse(
      readFileSync(
        join(ROOT, 'ops', 'grafana', 'provisioning', 'dashboards', 'product-images.yml'),
        'utf8',
      ),
    ) as { providers: { options: { path: string } }[] };
    expect(mounts['./ops/grafana/product-images.json']).toBe(
      `${provider.providers[0].options.path}/product-images.json`,
    );
    const dashboard = JSON.parse(
      readFileSync(join(ROOT, 'ops', 'grafana', 'product-images.json'), 'utf8'),
    ) as { uid: string; panels: unknown[] };
    expect(dashboard.uid).toBe('product-images');
    expect(dashboard.panels.length).toBeGreaterThan(10);
  });
});
