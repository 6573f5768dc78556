# syntax=docker/dockerfile:1
# Build stage: install syndicate and its dependencies into a virtualenv.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY syndicate ./syndicate
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir .

# Runtime stage: the virtualenv only, a non-root user, state on a volume.
FROM python:3.11-slim
RUN groupadd --system --gid 10001 syndicate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin syndicate \
 && mkdir -p /data /config \
 && chown syndicate:syndicate /data
COPY --from=build /opt/venv /opt/venv
COPY feeds.yaml /config/feeds.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SYNDICATE_CONFIG=/config/feeds.yaml \
    SYNDICATE_STATE=/data/syndicate.db
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 CMD ["syndicate", "health"]
ENTRYPOINT ["syndicate"]
CMD ["run"]
