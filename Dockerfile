# Tollgate webhook image. Multi-stage: build with dev dependencies, run with production ones only.
# glibc (Debian bookworm) is required: the uWebSockets.js native binary does not load on musl.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY rules ./rules
USER node
EXPOSE 8443 9090
ENTRYPOINT ["node", "/app/bin/tollgate.js"]
CMD ["serve", "--rules", "/app/rules", "--config", "/etc/tollgate/bindings", "--tls-cert", "/etc/tollgate/tls/tls.crt", "--tls-key", "/etc/tollgate/tls/tls.key"]
