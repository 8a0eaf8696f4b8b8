# tgstream: slim Python, non-root, sessions on a volume.

# hls.js for the watch page: the exact version npm/package-lock.json pins (integrity-checked
# by npm ci), built here and copied into the static files; only its built file leaves this stage.
FROM node:20-slim AS static
WORKDIR /build
COPY npm/package.json npm/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SESSION_DIR=/data/sessions \
    PORT=8080

WORKDIR /app

# The same exact-pin runtime lock that CI installs (requirements-dev.txt includes it): the
# server's dependencies only, no emulator, demo, bench or test tools.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# Only the product: with tgemu/ and tgbench/ absent, `pip install .` finds tgstream alone.
COPY pyproject.toml README.md ./
COPY tgstream ./tgstream
COPY --from=static /build/node_modules/hls.js/dist/hls.min.js ./tgstream/web/static/hls.min.js
COPY --from=static /build/node_modules/hls.js/LICENSE ./tgstream/web/static/hls.js.LICENSE
RUN pip install --no-cache-dir --no-deps . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin tgstream \
    && mkdir -p /data/sessions \
    && chown -R tgstream /data \
    && chmod 700 /data/sessions

USER tgstream
VOLUME ["/data/sessions"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]

ENTRYPOINT ["tgstream"]
CMD ["serve"]
