"""The observer side: records become events here, and everything that consumes events lives
here (collector, fold, store, filters, sessions, exports). It never runs in the process that
serves the traffic, except as the in-process `EventBus` a test or an embedding asks for."""
