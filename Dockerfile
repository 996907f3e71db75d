# One non-root process serving ingest and delivery; SQLite data lives in /data.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 forwarder && mkdir /data && chown forwarder /data
WORKDIR /app

COPY pyproject.toml README.md ./
COPY forwarder forwarder
COPY mappings mappings
COPY deploy/image-defaults.toml /app/image-defaults.toml
RUN pip install --no-cache-dir .

USER forwarder
# Only where to find the config and the image's defaults: every setting in the environment would override the
# mounted config (FORWARDER_* > TOML), so the defaults live in a file that the config overrides instead.
ENV FORWARDER_CONFIG=/etc/forwarder/config.toml \
    FORWARDER_DEFAULTS=/app/image-defaults.toml
VOLUME /data
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 CMD ["python", "-m", "forwarder.healthcheck"]
CMD ["forwarder", "serve"]
