# riskmon: slim image, non-root (numeric user), state on a volume, health from /healthz.
#   docker build -t riskmon .
#   docker run --env-file .env -v riskmon-data:/data -p 127.0.0.1:8465:8465 riskmon
# The image listens on 0.0.0.0 inside the container, so .env must set METRICS_TOKEN (riskmon refuses to start
# without one beyond loopback). --strict: an unknown setting (a typo) stops the container instead of a warning.
# The base image is pinned to a patch release (and Debian release); pip and every package to exact versions.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY riskmon ./riskmon
RUN python -m venv /opt/riskmon \
 && /opt/riskmon/bin/pip install --no-cache-dir "pip==24.3.1" \
 && /opt/riskmon/bin/pip install --no-cache-dir -c constraints.txt ".[mt5-bridge]"

FROM python:3.11.11-slim-bookworm
RUN useradd --system --no-log-init --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin riskmon \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/riskmon /opt/riskmon
ENV PATH=/opt/riskmon/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RISKMON_DB=/data/riskmon.db \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=8465
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8465
# Exec form: no shell in between; /healthz needs no token.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('METRICS_PORT', '8465'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["riskmon", "run", "--no-table", "--strict"]
