enum _PlaceholderServerSupport {}
