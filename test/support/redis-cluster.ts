// A private three-node Redis Cluster for the specs: three redis-server processes joined by
// `redis-cli --cluster create`, no replicas.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RedisServer } from './redis-server';
import { eventually } from './wait';

const run = promisify(execFile);

export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  /** "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3", the form of REDIS_CLUSTER_NODES. */
  get nodeList(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  static async start(size = 3): Promise<RedisCluster> {
    const nodes = await Promise.all(
      Array.from({ length: size }, () =>
        RedisServer.start({
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
        }),
      ),
    );
    const cluster = new RedisCluster(nodes);
    try {
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      let states: string[] = [];
      await eventually(
        async () => {
          states = await Promise.all(nodes.map((node) => node.command('CLUSTER', 'INFO').then(String, () => '')));
          return states.every((info) => info.includes('cluster_state:ok')) ? true : undefined;
        },
        15_000,
        () => `the cluster to become ok: ${states.join(' | ')}`,
        50,
      );
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.close()));
  }
}
