// A small OTLP/HTTP trace receiver on loopback, as a collector would be: it takes POST /v1/traces in either encoding
// (http/protobuf, http/json), answers 200 and keeps every span it was sent, decoded to what the tests look at.
// The protobuf decoding is by hand (the wire format is a few rules): the SDK's own decoder is not part of its API.
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** OTLP's SpanKind numbers. */
export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** The resource's attributes (service.name, …). */
  resource: Record<string, string | number | boolean>;
  /** The status code: 0 unset, 1 ok, 2 error. */
  status: number;
  /** The encoding it arrived in. */
  encoding: 'protobuf' | 'json';
}

type Field = { wire: number; value: bigint | Buffer };

/** The fields of one protobuf message, by number, in order. */
function fields(buffer: Buffer): Map<number, Field[]> {
  const found = new Map<number, Field[]>();
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = buffer[at++];
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  };
  while (at < buffer.length) {
    const tag = Number(varint());
    const wire = tag & 7;
    let value: bigint | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 1) value = buffer.subarray(at, (at += 8));
    else if (wire === 2) {
      const length = Number(varint());
      value = buffer.subarray(at, (at += length));
    } else if (wire === 5) value = buffer.subarray(at, (at += 4));
    else throw new Error(`unsupported protobuf wire type ${wire}`);
    const list = found.get(tag >> 3) ?? [];
    list.push({ wire, value });
    found.set(tag >> 3, list);
  }
  return found;
}

const messages = (map: Map<number, Field[]>, field: number): Buffer[] =>
  (map.get(field) ?? []).map((each) => each.value as Buffer);
const bytesHex = (map: Map<number, Field[]>, field: number): string => messages(map, field)[0]?.toString('hex') ?? '';
const text = (map: Map<number, Field[]>, field: number): string => messages(map, field)[0]?.toString('utf8') ?? '';
const integer = (map: Map<number, Field[]>, field: number): number => Number(map.get(field)?.[0]?.value ?? 0n);

/** KeyValue { key = 1; AnyValue value = 2 }, AnyValue { string 1, bool 2, int 3, double 4 }. */
function protobufAttributes(list: Buffer[]): Record<string, string | number | boolean> {
  const result: Record<string, string | number | boolean> = {};
  for (const entry of list) {
    const keyValue = fields(entry);
    const value = fields(messages(keyValue, 2)[0] ?? Buffer.alloc(0));
    if (value.has(1)) result[text(keyValue, 1)] = text(value, 1);
    else if (value.has(2)) result[text(keyValue, 1)] = integer(value, 2) === 1;
    else if (value.has(3)) result[text(keyValue, 1)] = integer(value, 3);
    else if (value.has(4)) result[text(keyValue, 1)] = (value.get(4)![0].value as Buffer).readDoubleLE(0);
  }
  return result;
}

/** ExportTraceServiceRequest { ResourceSpans 1 { Resource 1 { attributes 1 }, ScopeSpans 2 { Span 2 } } }. */
function decodeProtobuf(body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of messages(fields(body), 1)) {
    const rs = fields(resourceSpans);
    const resource = protobufAttributes(messages(fields(messages(rs, 1)[0] ?? Buffer.alloc(0)), 1));
    for (const scopeSpans of messages(rs, 2)) {
      for (const raw of messages(fields(scopeSpans), 2)) {
        const span = fields(raw);
        spans.push({
          traceId: bytesHex(span, 1),
          spanId: bytesHex(span, 2),
          parentSpanId: bytesHex(span, 4),
          name: text(span, 5),
          kind: integer(span, 6),
          attributes: protobufAttributes(messages(span, 9)),
          resource,
          status: integer(fields(messages(span, 15)[0] ?? Buffer.alloc(0)), 3),
          encoding: 'protobuf',
        });
      }
    }
  }
  return spans;
}

interface JsonKeyValue {
  key: string;
  value: { stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number };
}

function jsonAttributes(list: JsonKeyValue[] = []): Record<string, string | number | boolean> {
  const result: Record<string, string | number | boolean> = {};
  for (const { key, value } of list) {
    const found = value.stringValue ?? value.boolValue ?? value.intValue ?? value.doubleValue;
    if (found !== undefined) result[key] = typeof found === 'string' && 'intValue' in value ? Number(found) : found;
  }
  return result;
}

interface JsonRequest {
  resourceSpans?: {
    resource?: { attributes?: JsonKeyValue[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: JsonKeyValue[];
        status?: { code?: number };
      }[];
    }[];
  }[];
}

/** The JSON encoding: the same messages, ids in hex (OTLP/JSON). */
function decodeJson(body: Buffer): ReceivedSpan[] {
  const request = JSON.parse(body.toString('utf8')) as JsonRequest;
  return (request.resourceSpans ?? []).flatMap((rs) => {
    const resource = jsonAttributes(rs.resource?.attributes);
    return (rs.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId ?? '',
        name: span.name,
        kind: span.kind,
        attributes: jsonAttributes(span.attributes),
        resource,
        status: span.status?.code ?? 0,
        encoding: 'json' as const,
      })),
    );
  });
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Requests that were not an OTLP trace export it could read, with why. */
  readonly refused: string[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    const receiver = new OtlpReceiver(server);
    server.on('request', (request, response) => {
      readBody(request).then(
        (body) => {
          const type = request.headers['content-type'] ?? '';
          try {
            if (request.method !== 'POST' || request.url !== '/v1/traces')
              throw new Error(`${request.method} ${request.url}`);
            if (type.startsWith('application/x-protobuf')) receiver.spans.push(...decodeProtobuf(body));
            else if (type.startsWith('application/json')) receiver.spans.push(...decodeJson(body));
            else throw new Error(`content-type ${type}`);
          } catch (error) {
            receiver.refused.push((error as Error).message);
            response.writeHead(400).end();
            return;
          }
          // An empty ExportTraceServiceResponse: all accepted.
          if (type.startsWith('application/json'))
            response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          else response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        },
        () => response.destroy(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  /** What OTEL_EXPORTER_OTLP_ENDPOINT is set to (the exporter appends /v1/traces). */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
