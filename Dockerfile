FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
# The dashboard is built into the image (vite is a production dependency): the running user may not write web/.
RUN npm run build:web
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "src/main.ts"]
