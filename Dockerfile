# riskmon: slim image, non-root, state on a volume, health from /healthz.
#   docker build -t riskmon .
#   docker run --env-file .env -v riskmon-data:/data -p 127.0.0.1:9465:9465 riskmon
# --strict: an unknown setting (a typo) stops the container instead of being ignored with a warning.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY riskmon ./riskmon
RUN python -m venv /opt/riskmon \
 && /opt/riskmon/bin/pip install --no-cache-dir --upgrade "pip>=24" \
 && /opt/riskmon/bin/pip install --no-cache-dir -c constraints.txt ".[mt5-bridge]"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin riskmon \
 && mkdir -p /data && chown riskmon:riskmon /data
COPY --from=build /opt/riskmon /opt/riskmon
ENV PATH=/opt/riskmon/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RISKMON_DB=/data/riskmon.db \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9465
USER riskmon
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9465
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('METRICS_PORT', '9465'), timeout=4)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["riskmon", "run", "--no-table", "--strict"]
