# One image runs any Accord service or agent: node packages/cli/dist/main.js <command>, the same start
# command the tests and the local supervisor use, e.g. `agent run /etc/accord/manifest.yaml`.
# Docker is not available where this is developed: keep the recipe minimal.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
# npm ci's postinstall applies these to node_modules (kafkajs: see patches/kafkajs+2.2.4.patch)
COPY patches ./patches
COPY packages ./packages
COPY services ./services
RUN npm ci --no-audit --no-fund && npx tsc -b && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
COPY --from=build /app/services ./services
COPY schemas ./schemas
COPY infra ./infra
# Agents' own modules (entry and views) go under /app/agents/<name>/ in an image built FROM this one.
RUN useradd --uid 10001 --no-create-home accord && mkdir -p /app/agents && chown accord /app/agents
USER 10001
EXPOSE 8080
ENTRYPOINT ["node", "--disable-warning=TimeoutNegativeWarning", "packages/cli/dist/main.js"]
CMD ["--help"]
