"""What every part of the service uses: settings, Flask extensions, errors, logging, the
Redis connection, metrics, outage logging, pagination, durations, mail and the version."""
