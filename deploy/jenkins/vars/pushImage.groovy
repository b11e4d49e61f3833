/**
 * pushImage(names: ['gateway', ...], tag: '0.1.0-785ef76' [, registry: 'registry.example.com/',
 *           latest: true])
 *
 * Pushes images that buildImage built: <registry>sioms/<name>:<tag> and, unless latest: false,
 * :latest — what scripts/images.sh push (make push) pushes, for a tag the pipeline chose.
 * Log in first (the pipeline's Push stage does `docker login` inside withCredentials).
 *   names     required, a list of image names (also accepts name: 'gateway' for one)
 *   tag       required
 *   registry  optional prefix (default: env.REGISTRY, else none)
 *   latest    optional, push :latest too (default true)
 */
def call(Map args) {
    def names = args.names ?: (args.name ? [args.name] : [])
    if (!names || !args.tag) {
        error 'pushImage: names (or name) and tag are required'
    }
    def registry = args.registry != null ? args.registry : (env.REGISTRY ?: '')
    if (registry && !registry.endsWith('/')) {
        registry += '/'
    }
    for (name in names) {
        def image = "${registry}sioms/${name}"
        sh "docker push '${image}:${args.tag}'"
        if (args.latest != false) {
            sh "docker push '${image}:latest'"
        }
    }
}
