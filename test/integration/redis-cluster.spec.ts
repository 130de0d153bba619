import { Cluster } from 'ioredis';
import { RedisCluster } from '../support/redis-cluster';

jest.setTimeout(30_000);

describe('RedisCluster', () => {
  let cluster: RedisCluster;

  beforeAll(async () => {
    cluster = await RedisCluster.start();
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('should start three nodes that serve keys of every slot', async () => {
    const client = new Cluster(
      cluster.nodeList.split(',').map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) })),
    );
    try {
      for (const key of ['a', 'b', 'c', '{x}1', '{x}2']) await client.set(key, key);
      expect(await client.get('{x}2')).toBe('{x}2');
      expect(String(await client.cluster('INFO'))).toContain('cluster_known_nodes:3');
    } finally {
      client.disconnect();
    }
  });
});
