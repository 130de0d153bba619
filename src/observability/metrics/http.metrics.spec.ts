import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { HttpMetrics, observeHttpRequests } from './http.metrics';

describe('observeHttpRequests', () => {
  const registry = new Registry();
  const app = Fastify();
  observeHttpRequests(app, new HttpMetrics(registry));
  app.post('/api/dm-jobqueue/register', async (_request, reply) => reply.status(201).send({}));
  app.get('/api/dm-jobqueue/jobs/:job_id', async () => ({}));

  afterAll(() => app.close());

  it('should label durations with the route pattern, never the URL, and unmatched requests as one route', async () => {
    await app.inject({ method: 'POST', url: '/api/dm-jobqueue/register', payload: {} });
    for (const id of ['a', 'b', 'c']) await app.inject({ method: 'GET', url: `/api/dm-jobqueue/jobs/${id}` });
    for (const path of ['/x', '/y?z=1', '/.env']) await app.inject({ method: 'GET', url: path });

    const text = await registry.metrics();
    expect(text).toContain(
      'http_request_duration_seconds_count{method="POST",route="/api/dm-jobqueue/register",status_code="201"} 1',
    );
    expect(text).toContain(
      'http_request_duration_seconds_count{method="GET",route="/api/dm-jobqueue/jobs/:job_id",status_code="200"} 3',
    );
    expect(text).toContain('http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"} 3');
    expect(text).not.toMatch(/jobs\/a|\.env|route="\/x"/);
  });
});
