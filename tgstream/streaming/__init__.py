"""Pure HTTP-range and Telegram part-planning logic for the streaming endpoints."""
