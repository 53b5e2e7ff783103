# The byok ceremony worker. Build from the repository root:
#   docker build -f infra/deploy/worker.Dockerfile -t byok-worker .
# The HSM vendor's PKCS#11 library is mounted at run time (see compose.yaml / worker.yaml), not baked in.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
RUN corepack enable
WORKDIR /src
COPY . .
RUN pnpm install --frozen-lockfile && pnpm turbo run build --filter=@byok/worker... \
  && pnpm --filter @byok/worker deploy --prod /out

FROM node:20-bookworm-slim
RUN useradd --uid 10001 --create-home byok && mkdir -p /var/lib/byok/evidence && chown byok /var/lib/byok/evidence
COPY --from=build /out /app
USER byok
WORKDIR /app
ENTRYPOINT ["node", "dist/main.js"]
