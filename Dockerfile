# The Node.js LTS line the service is built and tested on (.nvmrc); CI also tests 22 and 26.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---- build: install all dependencies, compile, then drop devDependencies ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# sharp, argon2 and swc ship prebuilt binaries inside registry packages: no compiler toolchain,
# and no install script runs (package.json's allowScripts denies them all).
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json nest-cli.json openapi.json ./
COPY src ./src
COPY migrations ./migrations
# The console (Vite) is bundled from the client generated from openapi.json (scripts/sdk.mjs).
COPY console ./console
COPY scripts/sdk.mjs ./scripts/sdk.mjs
# nest build -> dist/src/main.js and dist/migrations/*.js (run by the app at start-up), then the
# console -> dist/console (served at /console)
RUN npm run build \
 && test -f dist/src/main.js && test -f dist/console/index.html \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data

WORKDIR /app

# Application files stay root-owned (read-only for the service user); only /data is writable.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# `npm run -s cli` (and `npm start`) runs it first: with no sources here, it finds the build done.
COPY --from=build /app/scripts/ensure-build.mjs ./scripts/ensure-build.mjs

# DATA_DIR: embedded database (when DATABASE_URL is unset) and, later, local image storage.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]

USER node
EXPOSE 3000

# No curl in slim images: probe liveness with Node's built-in fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Exec form so SIGTERM reaches node directly (the app drains and exits 0).
# Not `npm start`: its prestart hook would try to rebuild.
CMD ["node", "dist/src/main.js"]
