// Placeholder replaced when execution lands: the int and e2e projects start their own Redis.
export default function setup(): void {}
