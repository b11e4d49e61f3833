// Static checks of the Jenkins pipeline, without Jenkins (scripts/check-jenkins.sh runs them).
//   groovy check.groovy parse FILE...            compile each file to the CONVERSION phase (syntax
//                                                and AST; nothing runs, no class is resolved, so the
//                                                unknown DSL methods and @Library do not matter)
//   groovy check.groovy structure JENKINSFILE VARS_DIR
//                                                the pipeline's required shape, over the AST
// Prints one `test result:` line per check; exits 1 when any failed.
import org.codehaus.groovy.ast.ASTNode
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.CodeVisitorSupport
import org.codehaus.groovy.ast.ModuleNode
import org.codehaus.groovy.ast.expr.*
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.SourceUnit

failed = 0
def result(boolean ok, String what) {
    if (ok) println "test result: ok. 1 passed; 0 failed; 0 ignored (jenkins: ${what})"
    else { println "test result: FAILED. 0 passed; 1 failed; 0 ignored (jenkins: ${what})"; failed++ }
}

ModuleNode parse(File file) {
    def cu = new CompilationUnit(new CompilerConfiguration())
    SourceUnit su = cu.addSource(file)
    cu.compile(Phases.CONVERSION)
    return su.AST
}

// A call of the DSL: name, its literal string arguments (stage names, parameter names, sh
// scripts), the text of its arguments, and the calls nested in its closures.
class Call {
    String name; List<String> strings = []; String text = ''; String src = ''; List<Call> children = []; boolean implicitThis
    List<Call> all() { [this] + children.collectMany { it.all() } }
    List<Call> find(String n) { children.findAll { it.name == n } }
    Call first(String n) { find(n) ? find(n)[0] : null }
    List<Call> deep(String n) { all().findAll { it.name == n } }
    Call stage(String n) { deep('stage').find { it.strings && it.strings[0] == n } }
    String toString() { "${name}(${strings ? strings[0] : ''})" }
}

class Collector extends CodeVisitorSupport {
    Deque<Call> stack = new ArrayDeque<Call>([new Call(name: '<script>')])
    List<String> lines
    void visitMethodCallExpression(MethodCallExpression call) {
        def c = new Call(name: call.methodAsString, implicitThis: call.implicitThis, text: call.arguments.text,
                         src: call.lineNumber > 0 ? lines.subList(call.lineNumber - 1, call.lastLineNumber).join('\n') : '')
        call.arguments.visit(new CodeVisitorSupport() {
            void visitConstantExpression(ConstantExpression e) { if (e.value instanceof String) c.strings << e.value }
            void visitGStringExpression(GStringExpression e) { c.strings << e.text }
            void visitClosureExpression(ClosureExpression e) {}
        })
        stack.peek().children << c
        stack.push(c)
        call.objectExpression.visit(this)
        call.arguments.visit(this)
        stack.pop()
    }
}

Call tree(ModuleNode module, File file) {
    def collector = new Collector(lines: file.readLines())
    module.statementBlock.visit(collector)
    // Methods the file declares; not the script class's generated main() and run().
    module.classes.each { ClassNode cn -> cn.methods.findAll { !(it.name in ['main', 'run']) }.each { it.code?.visit(collector) } }
    return collector.stack.peek()
}

def (mode, rest) = [args ? args[0] : '', args ? args.drop(1) as List : []]

if (mode == 'parse') {
    rest.each { path ->
        try {
            parse(new File(path))
            result(true, "parses: ${path}")
        } catch (Exception e) {
            println e.message
            result(false, "parses: ${path}")
        }
    }
} else if (mode == 'structure') {
    def jenkinsfile = new File(rest[0])
    def varsDir = new File(rest[1])
    Call root
    try { root = tree(parse(jenkinsfile), jenkinsfile) } catch (Exception e) {
        println e.message; result(false, "structure: ${jenkinsfile} does not parse"); System.exit(1)
    }
    def problems = []
    def need = { ok, String what -> if (!ok) problems << what }

    def pipeline = root.first('pipeline')
    need(pipeline != null, 'a top-level pipeline { } block')
    pipeline = pipeline ?: new Call(name: 'pipeline')
    need(root.deep('Library').size() > 0 || jenkinsfile.text =~ /(?m)^@Library\('sioms[^']*'\)\s*_/, "@Library('sioms') _")
    ['agent', 'parameters', 'options', 'environment', 'stages', 'post'].each { need(pipeline.first(it) != null, "pipeline { ${it} { } }") }
    def params = pipeline.first('parameters')
    def param = { String kind, String name -> params?.find(kind)?.any { it.text.contains("name:${name}") } }
    need(param('choice', 'TARGET_ENV') && ['dev', 'staging', 'production'].every { params.first('choice').text.contains(it) },
         'parameters: choice TARGET_ENV dev/staging/production')
    need(param('string', 'IMAGE_TAG'), 'parameters: string IMAGE_TAG')
    need(param('booleanParam', 'DEPLOY'), 'parameters: booleanParam DEPLOY')
    def options = pipeline.first('options')
    ['timestamps', 'timeout', 'disableConcurrentBuilds', 'buildDiscarder'].each { need(options?.first(it) != null, "options: ${it}()") }
    need(options?.first('timeout')?.text?.contains('time:90') && options.first('timeout').text.contains('MINUTES'), 'options: timeout(time: 90, unit: MINUTES)')
    need(options?.first('buildDiscarder')?.deep('logRotator')?.any { it.text.contains("numToKeepStr:20") }, "options: buildDiscarder(logRotator(numToKeepStr: '20'))")
    need(pipeline.first('environment')?.src =~ /(?m)^\s*REGISTRY\s*=/, 'environment: REGISTRY = ...')

    def stages = pipeline.first('stages') ?: new Call(name: 'stages')
    def order = stages.find('stage').collect { it.strings ? it.strings[0] : '' }
    def expected = ['Checkout', 'Lint', 'Tests', 'Build images', 'Push', 'Helm lint', 'Deploy', 'Smoke test']
    need(order == expected, "top-level stages ${expected}, in that order (found ${order})")
    def stage = { String n -> stages.find('stage').find { it.strings && it.strings[0] == n } ?: new Call(name: 'stage') }
    def shText = { Call c -> c.deep('sh').collect { it.strings.join(' ') }.join('\n') }
    need(stage('Checkout').deep('checkout').any { it.text.contains('scm') }, 'Checkout: checkout scm')
    need(shText(stage('Lint')).contains('make lint'), "Lint: sh 'make lint'")
    def parallelStages = { String n -> stage(n).first('parallel')?.find('stage') ?: [] }
    need(parallelStages('Tests').size() >= 2, 'Tests: parallel { } with at least two stages')
    need(shText(stage('Tests')).contains('make test'), "Tests: sh 'make test'")
    need(shText(stage('Tests')) =~ /make check-delivery check-chart check-ansible/, "Tests: sh 'make check-delivery check-chart check-ansible'")
    def images = ['inventory-svc', 'pricing-svc', 'order-svc', 'analytics-consumer', 'notifier-consumer', 'gateway']
    def builds = parallelStages('Build images')
    need(builds.size() == 6 && builds.every { it.deep('buildImage').size() == 1 }, 'Build images: parallel { } of six stages, each calling buildImage')
    need(images.every { img -> builds.any { it.deep('buildImage').any { b -> b.text.contains("name:${img}") } } }, "Build images: buildImage for each of ${images}")
    def push = stage('Push')
    need(push.deep('withCredentials').any { it.deep('usernamePassword').any { u -> u.text.contains('credentialsId:sioms-registry') } },
         "Push: withCredentials([usernamePassword(credentialsId: 'sioms-registry', ...)])")
    need(shText(push).contains('docker login') && push.deep('withCredentials')[0]?.deep('pushImage'), 'Push: docker login then pushImage inside withCredentials')
    def helmLint = stage('Helm lint')
    need(shText(helmLint).contains('check-chart') || helmLint.deep('helmDeploy').any { it.text.contains('lintOnly:true') } || shText(helmLint).contains('helm lint --strict'),
         'Helm lint: make check-chart, helm lint --strict or helmDeploy(lintOnly: true)')
    def deploy = stage('Deploy')
    need(deploy.first('when')?.src?.contains('params.DEPLOY'), 'Deploy: when { expression { params.DEPLOY } }')
    need(deploy.deep('helmDeploy').any { it.text.contains('env:') && it.text.contains('TARGET_ENV') && it.text.contains('tag:') }, 'Deploy: helmDeploy(env: params.TARGET_ENV, tag: ...)')
    def helmDeploySource = new File(varsDir, 'helmDeploy.groovy')
    def deploySource = helmDeploySource.exists() ? helmDeploySource.text : ''
    need(deploySource =~ /helm upgrade --install sioms/ && deploySource =~ /--atomic --wait/ && deploySource.contains("credentialsId: args.kubeconfigId ?: 'sioms-kubeconfig', variable: 'KUBECONFIG'"),
         "Deploy (vars/helmDeploy.groovy): helm upgrade --install sioms ... --atomic --wait with the 'sioms-kubeconfig' file credential as KUBECONFIG")
    def smoke = stage('Smoke test')
    need(smoke.deep('smokeTest').any { it.text.contains('gatewayUrl:') }, 'Smoke test: smokeTest(gatewayUrl: ...)')
    def rollbackOnFailure = smoke.first('post')?.first('failure')
    need(rollbackOnFailure?.deep('helmRollback') || shText(rollbackOnFailure ?: new Call()).contains('helm rollback sioms'),
         'Smoke test: post { failure { rollback (helmRollback / helm rollback sioms) } }')
    def post = pipeline.first('post') ?: new Call(name: 'post')
    need(post.first('failure') != null, 'post { failure { } }')
    need(post.first('always') != null || post.first('cleanup') != null, 'post { always { } or cleanup { } }')
    def finalPost = post.first('always') ?: post.first('cleanup')
    need(finalPost?.deep('junit')?.any { it.text.contains('allowEmptyResults:true') } && finalPost.deep('cleanWs'), 'post always: junit allowEmptyResults: true and cleanWs()')
    need(post.first('failure')?.all()?.any { it.name in ['mail', 'slackSend', 'emailext'] }, 'post failure: a notification (mail / slackSend)')
    result(problems.isEmpty(), 'pipeline structure')
    problems.each { println "  missing or wrong: ${it}" }

    // Library steps: a call of the script itself (implicit this) that is neither a declarative
    // directive nor a step of the plugins listed here is a library step; each must exist in
    // vars/, and each vars/ file must be called.
    def known = '''pipeline agent label node any none docker parameters choice string booleanParam text password
        options timestamps timeout disableConcurrentBuilds buildDiscarder logRotator skipDefaultCheckout
        retry environment credentials stages stage steps script sh bat echo error checkout parallel failFast
        when expression anyOf allOf not branch tag environment changeRequest beforeAgent withCredentials
        usernamePassword file sshUserPrivateKey post always failure success unstable aborted changed fixed
        regression cleanup unsuccessful junit cleanWs deleteDir mail emailext slackSend archiveArtifacts
        stash unstash dir ws withEnv sleep input readFile writeFile fileExists catchError warnError
        timestamps Library library'''.split(/\s+/) as Set
    def vars = (varsDir.listFiles()?.findAll { it.name.endsWith('.groovy') }*.name*.replace('.groovy', '') ?: []) as Set
    def called = root.all().findAll { it.implicitThis && !(it.name in known) }*.name as Set
    def unknown = called - vars
    def unused = vars - called
    result(unknown.isEmpty() && unused.isEmpty() && !vars.isEmpty(), "library steps: ${called.sort()} all in vars/, every vars/ file used")
    unknown.each { println "  ${it}(...) is called but is neither a known step nor ${varsDir}/${it}.groovy" }
    unused.each { println "  ${varsDir}/${it}.groovy is not called by ${jenkinsfile}" }

    // Each vars/ step: a doc comment and def call(Map args).
    def badVars = vars.findAll { v ->
        def src = new File(varsDir, "${v}.groovy").text
        !(src =~ /(?s)^\s*\/\*\*.*?\*\/\s*def call\(Map args\)/)
    }
    result(badVars.isEmpty() && !vars.isEmpty(), 'vars/*.groovy: a /** doc comment */ then def call(Map args)')
    badVars.each { println "  ${varsDir}/${it}.groovy: no leading /** */ comment directly before def call(Map args)" }
} else {
    System.err.println 'usage: groovy check.groovy parse FILE... | structure JENKINSFILE VARS_DIR'
    System.exit(2)
}
System.exit(failed ? 1 : 0)
