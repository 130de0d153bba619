# syntax=docker/dockerfile:1
# The service as an image: built in one stage, run in a smaller one as the unprivileged "node" user.
#   docker build -t dm-jobqueue .
#   docker compose --profile app up -d --build      # with Redis, see docker-compose.yml

FROM node:24-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so a change in src/ does not reinstall them. No install scripts, as on a developer's
# machine (the project needs none; package.json's allowScripts says so for npm 11).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --omit=optional --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production APP_ENV=production
WORKDIR /app
# Owned by root and read-only for the service: it cannot change its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8080
# Liveness only (no Redis): an outage must not get the container restarted. The slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node itself is PID 1 and handles SIGTERM (graceful shutdown, exit 0); no npm in between to swallow it.
CMD ["node", "dist/main.js"]
