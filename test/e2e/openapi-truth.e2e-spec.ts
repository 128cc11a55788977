import { DataSource } from 'typeorm';
import { startTestApp } from '../support/test-app';
import { OpenApiResponseValidator } from '../support/openapi-validator';

/**
 * openapi.json against what the service does: places where a client generated from, or a gateway
 * validating against, the document was told something the service does not do.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
const validator = OpenApiResponseValidator.fromFile();
const doc = validator.document as any;

describe('openapi.json tells the truth', () => {
  it('types counts as integers (RenditionRebuildDto)', () => {
    const props = doc.components.schemas.RenditionRebuildDto.properties;
    expect([props.total.type, props.done.type, props.failed.type]).toEqual([
      'integer',
      'integer',
      'integer',
    ]);
    expect([props.total.minimum, props.done.minimum, props.failed.minimum]).toEqual([0, 0, 0]);
  });

  it('readiness 503: documents only the body the service sends (problem+json not_ready)', async () => {
    const other = await startTestApp();
    try {
      await other.app.get(DataSource).destroy();
      const res = await other.app.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 503, code: 'not_ready' });
      const documented = Object.keys(doc.paths['/health/ready'].get.responses['503'].content);
      // It also documented Terminus' report as application/json, `status` a string ("error"),
      // which a client typing the 503 body from the document read instead.
      expect(documented).toEqual(['application/problem+json']);
    } finally {
      await other.app.close().catch(() => undefined);
      await other.db.drop();
    }
  });
});
