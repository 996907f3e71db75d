# One non-root process serving ingest and delivery; SQLite data lives in /data.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 forwarder && mkdir /data && chown forwarder /data
WORKDIR /app

COPY pyproject.toml README.md ./
COPY forwarder forwarder
COPY mappings mappings
RUN pip install --no-cache-dir .

USER forwarder
ENV FORWARDER_CONFIG=/etc/forwarder/config.toml \
    FORWARDER_MAPPINGS_DIR=/app/mappings
EXPOSE 8080
STOPSIGNAL SIGTERM
CMD ["forwarder", "serve"]
