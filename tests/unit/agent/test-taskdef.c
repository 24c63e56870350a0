/* Unit tests: the ECS task definition parser. Every field, the defaults, the ECS string
 * forms of task cpu/memory, and every refusal with its exact message. JSON is written with
 * single quotes for readability and turned into double quotes before parsing. */
#include "agent/taskdef/taskdef.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <sys/resource.h>
#include <linux/capability.h>

static char *
dq (const char *s)
{
  char *r = xstrdup (s);
  for (char *p = r; *p; p++)
    if (*p == '\'')
      *p = '"';
  return r;
}

static struct taskdef *
parse_ok (const char *json)
{
  cleanup_free char *t = dq (json);
  cleanup_err berth_err err = NULL;
  struct taskdef *td = NULL;
  int r = taskdef_parse (t, strlen (t), &td, &err);
  cr_assert_eq (r, 0, "parse failed: %s\n%s", berth_err_msg (&err), t);
  cr_assert_not_null (td);
  return td;
}

static void
parse_fails (const char *json, const char *msg)
{
  cleanup_free char *t = dq (json);
  cleanup_err berth_err err = NULL;
  struct taskdef *td = NULL;
  int r = taskdef_parse (t, strlen (t), &td, &err);
  cr_assert_lt (r, 0, "parse succeeded but should fail with: %s\n%s", msg, t);
  cr_assert_null (td);
  cr_assert_str_eq (berth_err_msg (&err), msg, "for %s", t);
}

/* A minimal task with one container, the text in C inserted in its definition. */
#define C1(extra)                                                                                  \
  "{'family':'f','containerDefinitions':[{'name':'app','image':'busybox','memory':64" extra "}]}"
/* Task-level fields added beside the one container. */
#define T1(extra)                                                                                  \
  "{'family':'f','containerDefinitions':[{'name':'app','image':'busybox','memory':64}]" extra "}"

Test (taskdef, minimal_defaults)
{
  cleanup_taskdef struct taskdef *td = parse_ok (C1 (""));
  const struct taskdef_container *c = &td->containers[0];
  cr_assert_str_eq (td->family, "f");
  cr_assert_eq (td->network_mode, TASKDEF_NETWORK_AWSVPC);
  cr_assert_eq (td->pid_mode, TASKDEF_NS_UNSET);
  cr_assert_eq (td->ipc_mode, TASKDEF_NS_UNSET);
  cr_assert_eq (td->cpu, 0);
  cr_assert_eq (td->memory_mib, 0);
  cr_assert_eq (td->n_containers, 1);
  cr_assert_eq (td->n_volumes, 0);
  cr_assert_null (td->hostname);
  cr_assert_eq (td->pull_policy, TASKDEF_PULL_DEFAULT);
  cr_assert_str_eq (c->name, "app");
  cr_assert_str_eq (c->image, "busybox");
  cr_assert (c->essential);
  cr_assert_eq (c->memory_mib, 64);
  cr_assert_eq (c->cpu, 0);
  cr_assert_null (c->command);
  cr_assert_null (c->entry_point);
  cr_assert_not (c->health.present);
  cr_assert_not (c->has_stop_timeout);
  cr_assert_eq (c->stop_timeout_s, 30);
  cr_assert_not (c->privileged);
  cr_assert_not (c->readonly_rootfs);
  cr_assert_not (c->init_process);
  cr_assert_not (c->restart.present);
  cr_assert_eq (c->log.max_size, 0);
  cr_assert_null (c->stop_signal);
  cr_assert_not_null (td->json);
}

Test (taskdef, every_container_field)
{
  cleanup_taskdef struct taskdef *td = parse_ok (
      "{'family':'web-1','networkMode':'awsvpc','cpu':'1 vCPU','memory':'1 GB',"
      "'pidMode':'task','ipcMode':'task',"
      "'volumes':[{'name':'data','host':{'sourcePath':'/srv/data'}},{'name':'scratch'},"
      "           {'name':'e','host':{}}],"
      "'containerDefinitions':["
      "{'name':'db','image':'reg.example/db:1','essential':false,'memoryReservation':128,"
      " 'healthCheck':{'command':['CMD-SHELL','pg_isready || exit 1'],'interval':10,"
      "   'timeout':3,'retries':5,'startPeriod':20}},"
      "{'name':'web','image':'busybox@sha256:0123','cpu':512,'memory':256,"
      " 'memoryReservation':200,'essential':true,"
      " 'entryPoint':['/bin/sh','-c'],'command':['httpd -f'],"
      " 'environment':[{'name':'A','value':'1'},{'name':'EMPTY'}],"
      " 'dependsOn':[{'containerName':'db','condition':'HEALTHY'}],"
      " 'user':'www:www','workingDirectory':'/srv','readonlyRootFilesystem':true,"
      " 'privileged':false,"
      " 'linuxParameters':{'capabilities':{'add':['NET_ADMIN','cap_sys_ptrace'],"
      "   'drop':['ALL']},'devices':[{'hostPath':'/dev/fuse','permissions':['read','write']}],"
      "   'initProcessEnabled':true,'sharedMemorySize':128,"
      "   'tmpfs':[{'containerPath':'/tmp','size':64,'mountOptions':['nosuid','mode=1777']}],"
      "   'maxSwap':512,'swappiness':10},"
      " 'ulimits':[{'name':'nofile','softLimit':1024,'hardLimit':4096},"
      "            {'name':'core','softLimit':-1,'hardLimit':-1}],"
      " 'mountPoints':[{'sourceVolume':'data','containerPath':'/data','readOnly':true},"
      "                {'sourceVolume':'scratch','containerPath':'/scratch'}],"
      " 'volumesFrom':[{'sourceContainer':'db','readOnly':true}],"
      " 'stopTimeout':10,'startTimeout':60,'hostname':'web-host',"
      " 'dnsServers':['10.0.0.2','fd00::1'],'dnsSearchDomains':['example.internal'],"
      " 'extraHosts':[{'hostname':'db.local','ipAddress':'127.0.0.1'}],"
      " 'logConfiguration':{'logDriver':'json-file','options':{'max-size':'10m','max-file':'3'}},"
      " 'systemControls':[{'namespace':'net.ipv4.tcp_keepalive_time','value':'60'},"
      "                   {'namespace':'kernel.shmmax','value':'1048576'}],"
      " 'portMappings':[{'containerPort':80,'hostPort':80,'protocol':'tcp','name':'http',"
      "                  'appProtocol':'http'},{'containerPortRange':'9000-9010',"
      "                  'protocol':'udp'}],"
      " 'restartPolicy':{'enabled':true,'ignoredExitCodes':[0,143],'restartAttemptPeriod':60},"
      " 'disableNetworking':false,'pseudoTerminal':true,'interactive':true,"
      " 'dockerLabels':{'team':'a'},'dockerSecurityOptions':['no-new-privileges'],"
      " 'versionConsistency':'disabled'}],"
      "'berth':{'hostname':'task-host','pullPolicy':'never',"
      "  'containers':{'web':{'stopSignal':'SIGQUIT','pullPolicy':'always'},"
      "                'db':{'ebpfSidecar':true}}}}");
  const struct taskdef_container *db = &td->containers[0], *c = &td->containers[1];

  cr_assert_eq (td->cpu, 1024);
  cr_assert_eq (td->memory_mib, 1024);
  cr_assert_eq (td->pid_mode, TASKDEF_NS_TASK);
  cr_assert_eq (td->ipc_mode, TASKDEF_NS_TASK);
  cr_assert_eq (td->n_volumes, 3);
  cr_assert_str_eq (td->volumes[0].host_source_path, "/srv/data");
  cr_assert_null (td->volumes[1].host_source_path);
  cr_assert_null (td->volumes[2].host_source_path);
  cr_assert_str_eq (td->hostname, "task-host");
  cr_assert_eq (td->pull_policy, TASKDEF_PULL_NEVER);

  cr_assert_not (db->essential);
  cr_assert_eq (db->memory_reservation_mib, 128);
  cr_assert (db->health.present);
  cr_assert (db->health.shell);
  cr_assert_str_eq (db->health.argv[0], "pg_isready || exit 1");
  cr_assert_null (db->health.argv[1]);
  cr_assert_eq (db->health.interval_s, 10);
  cr_assert_eq (db->health.timeout_s, 3);
  cr_assert_eq (db->health.retries, 5);
  cr_assert_eq (db->health.start_period_s, 20);
  cr_assert (db->ebpf_sidecar);

  cr_assert_eq (c->cpu, 512);
  cr_assert_eq (c->memory_mib, 256);
  cr_assert_eq (c->memory_reservation_mib, 200);
  cr_assert_str_eq (c->entry_point[0], "/bin/sh");
  cr_assert_str_eq (c->command[0], "httpd -f");
  cr_assert_eq (c->n_env, 2);
  cr_assert_str_eq (c->env[1].name, "EMPTY");
  cr_assert_str_eq (c->env[1].value, "");
  cr_assert_eq (c->n_depends_on, 1);
  cr_assert_eq (c->depends_on[0].index, 0);
  cr_assert_eq (c->depends_on[0].condition, TASKDEF_DEP_HEALTHY);
  cr_assert_str_eq (c->user, "www:www");
  cr_assert_str_eq (c->working_dir, "/srv");
  cr_assert (c->readonly_rootfs);
  cr_assert_str_eq (c->cap_add[0], "CAP_NET_ADMIN");
  cr_assert_str_eq (c->cap_add[1], "CAP_SYS_PTRACE");
  cr_assert_str_eq (c->cap_drop[0], "ALL");
  cr_assert_eq (c->n_devices, 1);
  cr_assert_str_eq (c->devices[0].container_path, "/dev/fuse");
  cr_assert (c->devices[0].read && c->devices[0].write && !c->devices[0].mknod);
  cr_assert (c->init_process);
  cr_assert (c->has_shm_size);
  cr_assert_eq (c->shm_size_mib, 128);
  cr_assert_eq (c->n_tmpfs, 1);
  cr_assert_eq (c->tmpfs[0].size_mib, 64);
  cr_assert_str_eq (c->tmpfs[0].options[1], "mode=1777");
  cr_assert (c->has_max_swap && c->max_swap_mib == 512);
  cr_assert (c->has_swappiness && c->swappiness == 10);
  cr_assert_eq (c->n_ulimits, 2);
  cr_assert_eq (c->ulimits[0].resource, RLIMIT_NOFILE);
  cr_assert_eq (c->ulimits[0].soft, 1024);
  cr_assert_eq (c->ulimits[0].hard, 4096);
  cr_assert_eq (c->ulimits[1].soft, UINT64_MAX);
  cr_assert_eq (c->n_mount_points, 2);
  cr_assert_eq (c->mount_points[0].volume, 0);
  cr_assert (c->mount_points[0].read_only);
  cr_assert_eq (c->mount_points[1].volume, 1);
  cr_assert_eq (c->n_volumes_from, 1);
  cr_assert_eq (c->volumes_from[0].index, 0);
  cr_assert (c->has_stop_timeout && c->stop_timeout_s == 10);
  cr_assert (c->has_start_timeout && c->start_timeout_s == 60);
  cr_assert_str_eq (c->hostname, "web-host");
  cr_assert_str_eq (c->dns_servers[1], "fd00::1");
  cr_assert_str_eq (c->dns_search_domains[0], "example.internal");
  cr_assert_str_eq (c->extra_hosts[0].address, "127.0.0.1");
  cr_assert_eq (c->log.max_size, 10 << 20);
  cr_assert_eq (c->log.max_files, 3);
  cr_assert_eq (c->n_sysctls, 2);
  cr_assert_eq (c->n_ports, 2);
  cr_assert_eq (c->ports[0].container_port, 80);
  cr_assert_str_eq (c->ports[0].name, "http");
  cr_assert_eq (c->ports[1].container_port, 9000);
  cr_assert_eq (c->ports[1].last_port, 9010);
  cr_assert_eq (c->ports[1].protocol, TASKDEF_PROTO_UDP);
  cr_assert (c->restart.present && c->restart.enabled);
  cr_assert_eq (c->restart.n_ignored_exit_codes, 2);
  cr_assert_eq (c->restart.ignored_exit_codes[1], 143);
  cr_assert_eq (c->restart.attempt_period_s, 60);
  cr_assert (c->pseudo_terminal && c->interactive);
  cr_assert_str_eq (c->labels[0], "team=a");
  cr_assert_str_eq (c->stop_signal, "SIGQUIT");
  cr_assert_eq (c->pull_policy, TASKDEF_PULL_ALWAYS);
}

Test (taskdef, healthcheck_and_restart_defaults)
{
  cleanup_taskdef struct taskdef *td
      = parse_ok (C1 (",'healthCheck':{'command':['CMD','/bin/check','-q']},"
                      "'restartPolicy':{'enabled':false}"));
  const struct taskdef_container *c = &td->containers[0];
  cr_assert (c->health.present);
  cr_assert_not (c->health.shell);
  cr_assert_str_eq (c->health.argv[0], "/bin/check");
  cr_assert_str_eq (c->health.argv[1], "-q");
  cr_assert_eq (c->health.interval_s, 30);
  cr_assert_eq (c->health.timeout_s, 5);
  cr_assert_eq (c->health.retries, 3);
  cr_assert_eq (c->health.start_period_s, 0);
  cr_assert (c->restart.present);
  cr_assert_not (c->restart.enabled);
  cr_assert_eq (c->restart.attempt_period_s, 300);
}

Test (taskdef, task_cpu_memory_forms)
{
  static const struct
  {
    const char *cpu, *memory;
    uint32_t want_cpu, want_mem;
  } cases[] = {
    { "1024", "2048", 1024, 2048 },
    { "'1024'", "'2048'", 1024, 2048 },
    { "'1 vCPU'", "'2 GB'", 1024, 2048 },
    { "'1vcpu'", "'2GB'", 1024, 2048 },
    { "'0.25 vCPU'", "'0.5 GB'", 256, 512 },
    { "'.5 VCPU'", "'0.5gb'", 512, 512 },
    { "'2 vCPU '", "'16 GB'", 2048, 16384 },
    { "'192 vCPU'", "'120 GB'", 196608, 122880 },
    { "128", "6", 128, 6 },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      cleanup_free char *j = xasprintf (
          "{'family':'f','cpu':%s,'memory':%s,'containerDefinitions':[{'name':'a','image':'i'}]}",
          cases[i].cpu, cases[i].memory);
      cleanup_taskdef struct taskdef *td = parse_ok (j);
      cr_assert_eq (td->cpu, cases[i].want_cpu, "cpu %s", cases[i].cpu);
      cr_assert_eq (td->memory_mib, cases[i].want_mem, "memory %s", cases[i].memory);
    }
}

Test (taskdef, task_cpu_memory_refusals)
{
  parse_fails (T1 (",'cpu':'0.1 vCPU'"), "cpu: `0.1 vCPU` is not a whole number of CPU units");
  parse_fails (T1 (",'cpu':'fast'"),
               "cpu: `fast` is not a valid value (write CPU units such as 1024, or \"1 vCPU\")");
  parse_fails (T1 (",'cpu':'1 GB'"),
               "cpu: `1 GB` is not a valid value (write CPU units such as 1024, or \"1 vCPU\")");
  parse_fails (T1 (",'cpu':64"), "cpu: 64 CPU units is out of range [128, 196608]");
  parse_fails (T1 (",'cpu':'193 vCPU'"), "cpu: 197632 CPU units is out of range [128, 196608]");
  parse_fails (T1 (",'cpu':-5"), "cpu: -5 is out of range [0, 9223372036854775807]");
  parse_fails (T1 (",'cpu':1.5"), "cpu: expected an integer or a string, got a number");
  parse_fails (T1 (",'memory':'1 vCPU'"),
               "memory: `1 vCPU` is not a valid value (write MiB such as 2048, or \"2 GB\")");
  parse_fails (T1 (",'memory':'0.0001 GB'"), "memory: `0.0001 GB` is not a whole number of MiB");
  parse_fails (T1 (",'memory':4"), "memory: 4 MiB is out of range [6, 2147483647]");
  parse_fails (T1 (",'memory':'.'"),
               "memory: `.` is not a valid value (write MiB such as 2048, or \"2 GB\")");
  parse_fails (T1 (",'memory':'99999999999999999999 GB'"),
               "memory: `99999999999999999999 GB` is not a valid value (write MiB such as 2048, "
               "or \"2 GB\")");
}

Test (taskdef, resource_sums)
{
  parse_fails ("{'family':'f','cpu':256,'containerDefinitions':[{'name':'a','image':'i','cpu':200,"
               "'memory':8},{'name':'b','image':'i','cpu':100,'memory':8}]}",
               "containerDefinitions: the containers' cpu (300 units) is above the task's cpu "
               "(256)");
  parse_fails ("{'family':'f','memory':100,'containerDefinitions':[{'name':'a','image':'i',"
               "'memory':60},{'name':'b','image':'i','memory':80,'memoryReservation':50}]}",
               "containerDefinitions: the containers' memory (110 MiB) is above the task's "
               "memory (100 MiB)");
  parse_fails ("{'family':'f','memory':100,'containerDefinitions':[{'name':'a','image':'i',"
               "'memory':200,'memoryReservation':50}]}",
               "containerDefinitions[0].memory: 200 MiB is above the task's memory (100 MiB)");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i'}]}",
               "containerDefinitions[0]: set memory or memoryReservation (the task has no memory)");
  parse_fails (C1 (",'memoryReservation':65"),
               "containerDefinitions[0].memoryReservation: 65 MiB is above memory (64 MiB)");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':5}]}",
               "containerDefinitions[0].memory: 5 is out of range [6, 2147483647]");
  {
    cleanup_taskdef struct taskdef *td = parse_ok (
        "{'family':'f','memory':'1GB','containerDefinitions':[{'name':'a','image':'i'}]}");
    cr_assert_eq (td->containers[0].memory_mib, 0);
  }
}

Test (taskdef, document_level_refusals)
{
  parse_fails ("[]", "task definition: expected an object, got an array");
  parse_fails ("{'family':'f'", "task definition: invalid JSON: unexpected end of input");
  parse_fails ("{}", "family: required but missing");
  parse_fails ("{'family':'a b','containerDefinitions':[]}",
               "family: `a b`: only letters, digits, '_' and '-' are allowed");
  parse_fails ("{'family':'','containerDefinitions':[]}", "family: must be 1 to 255 characters");
  parse_fails ("{'family':'f'}", "containerDefinitions: required but missing");
  parse_fails ("{'family':'f','containerDefinitions':[]}",
               "containerDefinitions: needs at least one container");
  parse_fails ("{'family':'f','containerDefinitions':{}}",
               "containerDefinitions: expected an array, got an object");
  parse_fails (T1 (",'bogus':1"), "bogus: unknown field");
  parse_fails (C1 (",'bogus':1"), "containerDefinitions[0].bogus: unknown field");
  parse_fails ("{'family':'f','containerDefinitions':[1]}",
               "containerDefinitions[0]: expected an object, got an integer");
  parse_fails (
      "{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8},{'name':'b',"
      "'image':'i','memory':8},{'name':'c','image':'i','memory':8},{'name':'d','image':'i',"
      "'memory':8},{'name':'e','image':'i','memory':8},{'name':'f','image':'i','memory':8},"
      "{'name':'g','image':'i','memory':8},{'name':'h','image':'i','memory':8},{'name':'i',"
      "'image':'i','memory':8},{'name':'j','image':'i','memory':8},{'name':'k','image':'i',"
      "'memory':8}]}",
      "containerDefinitions: 11 containers, at most 10");
}

Test (taskdef, aws_fields_kept)
{
  cleanup_taskdef struct taskdef *td = parse_ok (
      T1 (",'taskRoleArn':'arn:aws:iam::1:role/r','executionRoleArn':'arn:aws:iam::1:role/e',"
          "'requiresCompatibilities':['EC2','FARGATE','EXTERNAL','MANAGED_INSTANCES'],"
          "'tags':[{'key':'k','value':'v'}],"
          "'placementConstraints':[{'type':'memberOf','expression':'attribute:x == y'}],"
          "'runtimePlatform':{'cpuArchitecture':'X86_64','operatingSystemFamily':'LINUX'},"
          "'ephemeralStorage':{'sizeInGiB':30},'enableFaultInjection':false,"
          "'taskDefinitionArn':'arn:aws:ecs:r:1:task-definition/f:3','revision':3,"
          "'status':'ACTIVE','requiresAttributes':[{'name':'x'}],'compatibilities':['EC2'],"
          "'registeredAt':'2024-01-01T00:00:00Z','registeredBy':'arn','deregisteredAt':null"));
  json_object *v;
  cr_assert (json_object_object_get_ex (td->json, "taskRoleArn", &v));
  cr_assert_str_eq (json_object_get_string (v), "arn:aws:iam::1:role/r");
  cr_assert (json_object_object_get_ex (td->json, "tags", &v));
}

Test (taskdef, nulls_are_absent)
{
  cleanup_taskdef struct taskdef *td
      = parse_ok (C1 (",'hostname':null,'command':null,'cpu':null,'essential':null"));
  cr_assert_null (td->containers[0].hostname);
  cr_assert (td->containers[0].essential);
}

Test (taskdef, refused_fields_name_path_and_advice)
{
  parse_fails (C1 (",'secrets':[{'name':'A','valueFrom':'arn'}]"),
               "containerDefinitions[0].secrets: not supported by berth: berth does not fetch "
               "from Secrets Manager or SSM; mount the secret from a host volume "
               "(volumes[].host.sourcePath with readOnly) or use environment");
  parse_fails (C1 (",'repositoryCredentials':{'credentialsParameter':'arn'}"),
               "containerDefinitions[0].repositoryCredentials: not supported by berth: berth "
               "reads registry credentials from the host (the image cache's auth file, a docker "
               "config.json); remove repositoryCredentials and log in on the host");
  parse_fails (C1 (",'links':['db']"),
               "containerDefinitions[0].links: not supported by berth: links need bridge mode; "
               "in awsvpc mode the task's containers share one network namespace and reach each "
               "other on localhost");
  parse_fails (C1 (",'environmentFiles':[{'value':'arn','type':'s3'}]"),
               "containerDefinitions[0].environmentFiles: not supported by berth: berth does not "
               "fetch environment files from S3; put the variables in environment");
  parse_fails (C1 (",'resourceRequirements':[{'type':'GPU','value':'1'}]"),
               "containerDefinitions[0].resourceRequirements: not supported by berth: berth does "
               "not assign GPUs or accelerators; pass a device with linuxParameters.devices "
               "(allowed by ALLOWED_DEVICES)");
  parse_fails (C1 (",'firelensConfiguration':{'type':'fluentbit'}"),
               "containerDefinitions[0].firelensConfiguration: not supported by berth: berth has "
               "no FireLens log router; use the json-file log driver and ship the files under "
               "LOG_DIR");
  parse_fails (C1 (",'credentialSpecs':['credentialspec:arn']"),
               "containerDefinitions[0].credentialSpecs: not supported by berth: Active "
               "Directory credential specs (gMSA) are not supported");
  parse_fails (T1 (",'proxyConfiguration':{'containerName':'app'}"),
               "proxyConfiguration: not supported by berth: App Mesh proxies are not supported "
               "by berth");
  parse_fails (T1 (",'inferenceAccelerators':[]"),
               "inferenceAccelerators: not supported by berth: Elastic Inference accelerators "
               "are not supported by berth");
  parse_fails (T1 (",'enableFaultInjection':true"),
               "enableFaultInjection: not supported by berth: there are no fault injection "
               "endpoints (set it to false)");
  parse_fails (C1 (",'dockerSecurityOptions':['apparmor:unconfined']"),
               "containerDefinitions[0].dockerSecurityOptions[0]: `apparmor:unconfined` is not "
               "supported by berth: only no-new-privileges (always on); SELinux/AppArmor labels "
               "and credential specs are not applied");
}

Test (taskdef, log_configuration)
{
  parse_fails (C1 (",'logConfiguration':{'logDriver':'awslogs','options':{'awslogs-group':'g'}}"),
               "containerDefinitions[0].logConfiguration.logDriver: `awslogs` is not supported "
               "by berth: use json-file (berth writes each container's output as JSON lines "
               "under LOG_DIR, read with `berth logs`; ship them from there)");
  parse_fails (C1 (",'logConfiguration':{'logDriver':'syslog'}"),
               "containerDefinitions[0].logConfiguration.logDriver: `syslog` is not supported "
               "by berth: use json-file (berth writes each container's output as JSON lines "
               "under LOG_DIR, read with `berth logs`; ship them from there)");
  parse_fails (C1 (",'logConfiguration':{'options':{}}"),
               "containerDefinitions[0].logConfiguration.logDriver: required but missing");
  parse_fails (C1 (",'logConfiguration':{'logDriver':'json-file','options':{'compress':'true'}}"),
               "containerDefinitions[0].logConfiguration.options.compress: not supported by "
               "berth: the json-file driver takes max-size and max-file");
  parse_fails (C1 (",'logConfiguration':{'logDriver':'json-file','options':{'max-size':'1'}}"),
               "containerDefinitions[0].logConfiguration.options.max-size: `1` is not a size of "
               "at least 4k (such as \"10m\")");
  parse_fails (C1 (",'logConfiguration':{'logDriver':'json-file','options':{'max-file':'0'}}"),
               "containerDefinitions[0].logConfiguration.options.max-file: `0` is not a number "
               "of files from 1 to 1000");
  parse_fails (C1 (",'logConfiguration':{'logDriver':'json-file','options':{'max-file':3}}"),
               "containerDefinitions[0].logConfiguration.options.max-file: expected a string, "
               "got an integer");
  parse_fails (C1 (",'logConfiguration':{'logDriver':'json-file','secretOptions':[]}"),
               "containerDefinitions[0].logConfiguration.secretOptions: not supported by berth: "
               "berth does not fetch secrets; log options are plain values");
}

Test (taskdef, network_modes)
{
  {
    cleanup_taskdef struct taskdef *td = parse_ok (T1 (",'networkMode':'host'"));
    cr_assert_eq (td->network_mode, TASKDEF_NETWORK_HOST);
  }
  {
    cleanup_taskdef struct taskdef *td = parse_ok (T1 (",'networkMode':'none'"));
    cr_assert_eq (td->network_mode, TASKDEF_NETWORK_NONE);
  }
  parse_fails (T1 (",'networkMode':'bridge'"),
               "networkMode: bridge is not supported by berth: use awsvpc (the default), which "
               "gives the task its own IP address; containers reach each other on localhost");
  parse_fails (T1 (",'networkMode':'nat'"), "networkMode: `nat` is not awsvpc, host or none");
  parse_fails (T1 (",'pidMode':'none'"), "pidMode: `none` is not host or task");
  parse_fails (T1 (",'ipcMode':'shareable'"), "ipcMode: `shareable` is not host, task or none");
  {
    cleanup_taskdef struct taskdef *td = parse_ok (T1 (",'berth':{'reachTasks':true}"));
    cr_assert (td->reach_tasks);
  }
  parse_fails (T1 (",'networkMode':'none','berth':{'reachTasks':true}"),
               "berth.reachTasks: only for networkMode awsvpc: a task in networkMode none has no "
               "address of its own to reach other tasks from");
  parse_fails (T1 (",'networkMode':'host','berth':{'reachTasks':true}"),
               "berth.reachTasks: only for networkMode awsvpc: a task in networkMode host has no "
               "address of its own to reach other tasks from");
  {
    cleanup_taskdef struct taskdef *td = parse_ok (T1 (",'pidMode':'host','ipcMode':'none'"));
    cr_assert_eq (td->pid_mode, TASKDEF_NS_HOST);
    cr_assert_eq (td->ipc_mode, TASKDEF_NS_NONE);
  }
}

Test (taskdef, port_mappings)
{
  parse_fails (C1 (",'portMappings':[{'containerPort':80,'hostPort':8080}]"),
               "containerDefinitions[0].portMappings[0].hostPort: 8080 differs from "
               "containerPort 80: in awsvpc and host mode the container port is the port "
               "(leave hostPort out)");
  parse_fails (C1 (",'portMappings':[{'hostPort':80}]"),
               "containerDefinitions[0].portMappings[0].containerPort: required but missing");
  parse_fails (C1 (",'portMappings':[{'containerPort':0}]"),
               "containerDefinitions[0].portMappings[0].containerPort: 0 is out of range [1, "
               "65535]");
  parse_fails (C1 (",'portMappings':[{'containerPort':53,'protocol':'sctp'}]"),
               "containerDefinitions[0].portMappings[0].protocol: `sctp` is not tcp or udp");
  parse_fails (C1 (",'portMappings':[{'containerPortRange':'10-5'}]"),
               "containerDefinitions[0].portMappings[0].containerPortRange: `10-5` is not a "
               "range FIRST-LAST of ports 1-65535 with FIRST < LAST");
  parse_fails (C1 (",'portMappings':[{'containerPortRange':'1-5','hostPort':1}]"),
               "containerDefinitions[0].portMappings[0].hostPort: cannot be set with "
               "containerPortRange");
  parse_fails (C1 (",'portMappings':[{'containerPort':80},{'containerPortRange':'70-90'}]"),
               "containerDefinitions[0].portMappings[1]: port 70/tcp is also mapped by "
               "containerDefinitions[0].portMappings[0]");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,"
               "'portMappings':[{'containerPort':80}]},{'name':'b','image':'i','memory':8,"
               "'portMappings':[{'containerPort':80}]}]}",
               "containerDefinitions[1].portMappings[0]: port 80/tcp is also mapped by "
               "containerDefinitions[0].portMappings[0]");
  parse_fails ("{'family':'f','networkMode':'none','containerDefinitions':[{'name':'a',"
               "'image':'i','memory':8,'portMappings':[{'containerPort':80}]}]}",
               "containerDefinitions[0].portMappings: networkMode none has no ports to map");
  {
    cleanup_taskdef struct taskdef *td
        = parse_ok (C1 (",'portMappings':[{'containerPort':53,'protocol':'udp'},"
                        "{'containerPort':53,'hostPort':53}]"));
    cr_assert_eq (td->containers[0].n_ports, 2);
  }
}

Test (taskdef, names_and_duplicates)
{
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8},"
               "{'name':'a','image':'j','memory':8}]}",
               "containerDefinitions[1].name: `a` is used by containerDefinitions[0] too");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a.b','image':'i','memory':8}]}",
               "containerDefinitions[0].name: `a.b`: only letters, digits, '_' and '-' are "
               "allowed");
  parse_fails ("{'family':'f','containerDefinitions':[{'image':'i','memory':8}]}",
               "containerDefinitions[0].name: required but missing");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','memory':8}]}",
               "containerDefinitions[0].image: required but missing");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'bad image',"
               "'memory':8}]}",
               "containerDefinitions[0].image: `bad image` is not an image reference");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,"
               "'essential':false}]}",
               "containerDefinitions: at least one container must be essential");
}

Test (taskdef, dependencies)
{
  parse_fails (C1 (",'dependsOn':[{'containerName':'nope','condition':'START'}]"),
               "containerDefinitions[0].dependsOn[0].containerName: no container `nope` in the "
               "task");
  parse_fails (C1 (",'dependsOn':[{'containerName':'app','condition':'START'}]"),
               "containerDefinitions[0].dependsOn[0].containerName: a container cannot depend "
               "on itself");
  parse_fails (C1 (",'dependsOn':[{'containerName':'app','condition':'READY'}]"),
               "containerDefinitions[0].dependsOn[0].condition: `READY` is not one of START, "
               "COMPLETE, SUCCESS, HEALTHY");
  parse_fails (C1 (",'dependsOn':[{'containerName':'app'}]"),
               "containerDefinitions[0].dependsOn[0].condition: required but missing");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8},"
               "{'name':'b','image':'i','memory':8,'dependsOn':[{'containerName':'a',"
               "'condition':'COMPLETE'}]}]}",
               "containerDefinitions[1].dependsOn[0].condition: COMPLETE cannot be used on `a`: "
               "it is essential (its exit stops the task)");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8},"
               "{'name':'b','image':'i','memory':8,'dependsOn':[{'containerName':'a',"
               "'condition':'HEALTHY'}]}]}",
               "containerDefinitions[1].dependsOn[0].condition: HEALTHY needs a healthCheck on "
               "`a`");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,"
               "'dependsOn':[{'containerName':'b','condition':'START'}]},"
               "{'name':'b','image':'i','memory':8,'dependsOn':[{'containerName':'a',"
               "'condition':'START'}]}]}",
               "containerDefinitions[0].dependsOn: `a` is in a dependency cycle");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8},"
               "{'name':'b','image':'i','memory':8,'dependsOn':[{'containerName':'a',"
               "'condition':'START'},{'containerName':'a','condition':'START'}]}]}",
               "containerDefinitions[1].dependsOn[1].containerName: `a` is listed twice");
}

Test (taskdef, start_order)
{
  cleanup_taskdef struct taskdef *td
      = parse_ok ("{'family':'f','containerDefinitions':["
                  "{'name':'web','image':'i','memory':8,'dependsOn':[{'containerName':'db','"
                  "condition':'START'},"
                  "   {'containerName':'init','condition':'SUCCESS'}]},"
                  "{'name':'side','image':'i','memory':8},"
                  "{'name':'db','image':'i','memory':8,'dependsOn':[{'containerName':'init',"
                  "   'condition':'COMPLETE'}]},"
                  "{'name':'init','image':'i','memory':8,'essential':false}]}");
  size_t order[4];
  taskdef_start_order (td, order);
  cr_assert_eq (order[0], 1); /* side: nothing to wait for, first in the document */
  cr_assert_eq (order[1], 3); /* init */
  cr_assert_eq (order[2], 2); /* db */
  cr_assert_eq (order[3], 0); /* web */
}

Test (taskdef, volumes)
{
  parse_fails (T1 (",'volumes':[{'name':'v','dockerVolumeConfiguration':{'scope':'task'}}]"),
               "volumes[0].dockerVolumeConfiguration: not supported by berth: Docker volume "
               "drivers are not supported; use a volume with no configuration (a task-scoped "
               "empty directory) or host.sourcePath (allowed by ALLOWED_HOST_PATHS)");
  parse_fails (T1 (",'volumes':[{'name':'v','efsVolumeConfiguration':{'fileSystemId':'fs'}}]"),
               "volumes[0].efsVolumeConfiguration: not supported by berth: mount the file system "
               "on the host and use host.sourcePath");
  parse_fails (T1 (",'volumes':[{'name':'v','configuredAtLaunch':true}]"),
               "volumes[0].configuredAtLaunch: not supported by berth: EBS volumes attached at "
               "launch need AWS");
  parse_fails (T1 (",'volumes':[{'name':'v','host':{'sourcePath':'data'}}]"),
               "volumes[0].host.sourcePath: `data` is not an absolute path");
  parse_fails (T1 (",'volumes':[{'name':'v','host':{'sourcePath':'/a/../etc'}}]"),
               "volumes[0].host.sourcePath: `/a/../etc` contains a `.` or `..` component");
  parse_fails (T1 (",'volumes':[{'name':'v'},{'name':'v'}]"),
               "volumes[1].name: `v` is used by volumes[0] too");
  parse_fails (T1 (",'volumes':[{'host':{}}]"), "volumes[0].name: required but missing");
  parse_fails (C1 (",'mountPoints':[{'sourceVolume':'x','containerPath':'/x'}]"),
               "containerDefinitions[0].mountPoints[0].sourceVolume: no volume `x` in volumes");
  parse_fails ("{'family':'f','volumes':[{'name':'v'}],'containerDefinitions':[{'name':'a',"
               "'image':'i','memory':8,'mountPoints':[{'sourceVolume':'v','containerPath':'/'}]}]}",
               "containerDefinitions[0].mountPoints[0].containerPath: cannot mount over the "
               "container's root");
  parse_fails ("{'family':'f','volumes':[{'name':'v'}],'containerDefinitions':[{'name':'a',"
               "'image':'i','memory':8,'mountPoints':[{'sourceVolume':'v','containerPath':'/d'}],"
               "'linuxParameters':{'tmpfs':[{'containerPath':'/d','size':1}]}}]}",
               "containerDefinitions[0]: two mounts at `/d` (mountPoints or "
               "linuxParameters.tmpfs)");
  parse_fails (C1 (",'volumesFrom':[{'sourceContainer':'app'}]"),
               "containerDefinitions[0].volumesFrom[0].sourceContainer: a container cannot take "
               "its own volumes");
  parse_fails (C1 (",'volumesFrom':[{'sourceContainer':'zz'}]"),
               "containerDefinitions[0].volumesFrom[0].sourceContainer: no container `zz` in "
               "the task");
}

Test (taskdef, linux_parameters)
{
  parse_fails (C1 (",'linuxParameters':{'capabilities':{'add':['FLY']}}"),
               "containerDefinitions[0].linuxParameters.capabilities.add[0]: `FLY` is not a "
               "Linux capability");
  parse_fails (C1 (",'linuxParameters':{'capabilities':{'add':['12']}}"),
               "containerDefinitions[0].linuxParameters.capabilities.add[0]: `12` is not a Linux "
               "capability");
  parse_fails (C1 (",'linuxParameters':{'capabilities':{'keep':[]}}"),
               "containerDefinitions[0].linuxParameters.capabilities.keep: unknown field");
  parse_fails (C1 (",'linuxParameters':{'devices':[{'containerPath':'/dev/x'}]}"),
               "containerDefinitions[0].linuxParameters.devices[0].hostPath: required but "
               "missing");
  parse_fails (C1 (",'linuxParameters':{'devices':[{'hostPath':'/dev/x','permissions':['all']}]}"),
               "containerDefinitions[0].linuxParameters.devices[0].permissions[0]: `all` is not "
               "one of read, write, mknod");
  parse_fails (C1 (",'linuxParameters':{'tmpfs':[{'containerPath':'/t'}]}"),
               "containerDefinitions[0].linuxParameters.tmpfs[0].size: required but missing");
  parse_fails (C1 (",'linuxParameters':{'tmpfs':[{'containerPath':'/t','size':0}]}"),
               "containerDefinitions[0].linuxParameters.tmpfs[0].size: 0 is out of range [1, "
               "2147483647]");
  parse_fails (C1 (",'linuxParameters':{'tmpfs':[{'containerPath':'/t','size':1,"
                   "'mountOptions':['bind']}]}"),
               "containerDefinitions[0].linuxParameters.tmpfs[0].mountOptions[0]: `bind` is not "
               "a tmpfs mount option berth accepts");
  parse_fails (C1 (",'linuxParameters':{'tmpfs':[{'containerPath':'/t','size':1,"
                   "'mountOptions':['size=1g']}]}"),
               "containerDefinitions[0].linuxParameters.tmpfs[0].mountOptions[0]: set the size "
               "with `size` (MiB), not a mount option");
  parse_fails (C1 (",'linuxParameters':{'swappiness':5}"),
               "containerDefinitions[0].linuxParameters.swappiness: needs maxSwap (ECS ignores "
               "swappiness without it)");
  parse_fails (C1 (",'linuxParameters':{'maxSwap':1,'swappiness':101}"),
               "containerDefinitions[0].linuxParameters.swappiness: 101 is out of range [0, 100]");
  parse_fails (C1 (",'linuxParameters':{'maxSwap':-1}"),
               "containerDefinitions[0].linuxParameters.maxSwap: -1 is out of range [0, "
               "2147483647]");
  parse_fails ("{'family':'f','memory':64,'containerDefinitions':[{'name':'a','image':'i',"
               "'linuxParameters':{'maxSwap':10}}]}",
               "containerDefinitions[0].linuxParameters.maxSwap: needs memory: the swap limit "
               "is memory plus maxSwap");
  parse_fails (C1 (",'linuxParameters':{'sharedMemorySize':0}"),
               "containerDefinitions[0].linuxParameters.sharedMemorySize: 0 is out of range [1, "
               "2147483647]");
  parse_fails (C1 (",'linuxParameters':{'initProcessEnabled':'yes'}"),
               "containerDefinitions[0].linuxParameters.initProcessEnabled: expected a boolean, "
               "got a string");
}

Test (taskdef, ulimits)
{
  parse_fails (C1 (",'ulimits':[{'name':'files','softLimit':1,'hardLimit':1}]"),
               "containerDefinitions[0].ulimits[0].name: `files` is not a ulimit name (core, "
               "cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, "
               "rttime, sigpending, stack)");
  parse_fails (C1 (",'ulimits':[{'name':'nofile','softLimit':10,'hardLimit':5}]"),
               "containerDefinitions[0].ulimits[0].softLimit: is above hardLimit");
  parse_fails (C1 (",'ulimits':[{'name':'nofile','softLimit':1,'hardLimit':1},"
                   "{'name':'nofile','softLimit':1,'hardLimit':1}]"),
               "containerDefinitions[0].ulimits[1].name: `nofile` is set twice");
  parse_fails (C1 (",'ulimits':[{'name':'nofile','softLimit':-2,'hardLimit':1}]"),
               "containerDefinitions[0].ulimits[0].softLimit: -2 is out of range [-1, "
               "9223372036854775807]");
  parse_fails (C1 (",'ulimits':[{'name':'nofile','hardLimit':1}]"),
               "containerDefinitions[0].ulimits[0].softLimit: required but missing");
}

Test (taskdef, system_controls)
{
  parse_fails (C1 (",'systemControls':[{'namespace':'kernel.panic','value':'1'}]"),
               "containerDefinitions[0].systemControls[0].namespace: `kernel.panic` is not a "
               "namespaced kernel parameter berth can set per task (allowed: net.*, "
               "kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, "
               "kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced, fs.mqueue.*)");
  parse_fails (C1 (",'systemControls':[{'namespace':'net/../../x','value':'1'}]"),
               "containerDefinitions[0].systemControls[0].namespace: `net/../../x` is not a "
               "namespaced kernel parameter berth can set per task (allowed: net.*, "
               "kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, "
               "kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced, fs.mqueue.*)");
  parse_fails ("{'family':'f','networkMode':'host','containerDefinitions':[{'name':'a',"
               "'image':'i','memory':8,'systemControls':[{'namespace':'net.core.somaxconn',"
               "'value':'1024'}]}]}",
               "containerDefinitions[0].systemControls[0].namespace: `net.core.somaxconn` would "
               "change the host's network stack (networkMode host)");
  parse_fails ("{'family':'f','ipcMode':'host','containerDefinitions':[{'name':'a',"
               "'image':'i','memory':8,'systemControls':[{'namespace':'kernel.sem',"
               "'value':'1'}]}]}",
               "containerDefinitions[0].systemControls[0].namespace: `kernel.sem` would change "
               "the host's IPC namespace (ipcMode host)");
  parse_fails ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,"
               "'systemControls':[{'namespace':'net.core.somaxconn','value':'1024'}]},"
               "{'name':'b','image':'i','memory':8,"
               "'systemControls':[{'namespace':'net.core.somaxconn','value':'2048'}]}]}",
               "containerDefinitions[1].systemControls[0].value: `2048` conflicts with "
               "containerDefinitions[0].systemControls[0] (`1024`): the containers share one "
               "namespace");
  parse_fails (C1 (",'systemControls':[{'namespace':'net.x','value':'1'},"
                   "{'namespace':'net.x','value':'1'}]"),
               "containerDefinitions[0].systemControls[1].namespace: `net.x` is set twice");
  /* Different values in separate IPC namespaces (ipcMode unset) are fine. */
  {
    cleanup_taskdef struct taskdef *td
        = parse_ok ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','memory':8,"
                    "'systemControls':[{'namespace':'kernel.shmmax','value':'1'}]},"
                    "{'name':'b','image':'i','memory':8,"
                    "'systemControls':[{'namespace':'kernel.shmmax','value':'2'}]}]}");
    cr_assert_eq (td->containers[1].n_sysctls, 1);
  }
  /* disableNetworking gives a container its own network namespace even in host mode. */
  {
    cleanup_taskdef struct taskdef *td
        = parse_ok ("{'family':'f','networkMode':'host','containerDefinitions':[{'name':'a',"
                    "'image':'i','memory':8,'disableNetworking':true,"
                    "'systemControls':[{'namespace':'net.ipv4.ip_forward','value':'1'}]}]}");
    cr_assert (td->containers[0].disable_networking);
  }
}

Test (taskdef, container_scalars)
{
  parse_fails (C1 (",'user':'a:b:c'"),
               "containerDefinitions[0].user: `a:b:c` is not user, user:group, uid or uid:gid");
  parse_fails (C1 (",'user':':1'"),
               "containerDefinitions[0].user: `:1` is not user, user:group, uid or uid:gid");
  parse_fails (C1 (",'user':'1:'"),
               "containerDefinitions[0].user: `1:` is not user, user:group, uid or uid:gid");
  parse_fails (C1 (",'workingDirectory':'srv'"),
               "containerDefinitions[0].workingDirectory: `srv` is not an absolute path");
  parse_fails (C1 (",'hostname':'-bad'"),
               "containerDefinitions[0].hostname: `-bad` is not a valid host name (RFC 1123, at "
               "most 64 bytes)");
  parse_fails (C1 (",'dnsServers':['8.8.8']"),
               "containerDefinitions[0].dnsServers[0]: `8.8.8` is not an IPv4 or IPv6 address");
  parse_fails (C1 (",'dnsSearchDomains':['a b']"),
               "containerDefinitions[0].dnsSearchDomains[0]: `a b` is not a domain name");
  parse_fails (C1 (",'extraHosts':[{'hostname':'x','ipAddress':'nope'}]"),
               "containerDefinitions[0].extraHosts[0].ipAddress: `nope` is not an IPv4 or IPv6 "
               "address");
  parse_fails (C1 (",'stopTimeout':-1"),
               "containerDefinitions[0].stopTimeout: -1 is out of range [0, 86400]");
  parse_fails (C1 (",'startTimeout':100000"),
               "containerDefinitions[0].startTimeout: 100000 is out of range [0, 86400]");
  parse_fails (C1 (",'cpu':200000"),
               "containerDefinitions[0].cpu: 200000 is out of range [0, 196608]");
  parse_fails (C1 (",'environment':[{'name':'A=B','value':'1'}]"),
               "containerDefinitions[0].environment[0].name: `A=B` is not a valid variable name "
               "(empty or has '=')");
  parse_fails (C1 (",'environment':[{'value':'1'}]"),
               "containerDefinitions[0].environment[0].name: required but missing");
  parse_fails (C1 (",'environment':[{'name':'A','value':1}]"),
               "containerDefinitions[0].environment[0].value: expected a string, got an integer");
  parse_fails (C1 (",'command':['a',1]"),
               "containerDefinitions[0].command[1]: expected a string, got an integer");
  parse_fails (C1 (",'dockerLabels':{'a':1}"),
               "containerDefinitions[0].dockerLabels.a: expected a string, got an integer");
  parse_fails (C1 (",'dockerLabels':{'a=b':'c'}"),
               "containerDefinitions[0].dockerLabels: label `a=b=c` has an empty key, a '=' in "
               "its key or a NUL in its value");
  parse_fails (C1 (",'dockerLabels':{'':'c'}"),
               "containerDefinitions[0].dockerLabels: label `=c` has an empty key, a '=' in its "
               "key or a NUL in its value");
  parse_fails (C1 (",'linuxParameters':{'tmpfs':[{'containerPath':'/t','size':1,"
                   "'mountOptions':['mode=1777,size=9g']}]}"),
               "containerDefinitions[0].linuxParameters.tmpfs[0].mountOptions[0]: "
               "`mode=1777,size=9g` is not a tmpfs mount option berth accepts");
  parse_fails (C1 (",'versionConsistency':'maybe'"),
               "containerDefinitions[0].versionConsistency: `maybe` is not enabled or disabled");
  parse_fails (C1 (",'privileged':1"),
               "containerDefinitions[0].privileged: expected a boolean, got an integer");
}

Test (taskdef, health_and_restart_refusals)
{
  parse_fails (C1 (",'healthCheck':{'interval':5}"),
               "containerDefinitions[0].healthCheck.command: required but missing");
  parse_fails (C1 (",'healthCheck':{'command':['NONE']}"),
               "containerDefinitions[0].healthCheck.command: must start with CMD or CMD-SHELL, "
               "not `NONE`");
  parse_fails (C1 (",'healthCheck':{'command':['CMD']}"),
               "containerDefinitions[0].healthCheck.command: CMD needs the command to run after "
               "it");
  parse_fails (C1 (",'healthCheck':{'command':['CMD-SHELL','a','b']}"),
               "containerDefinitions[0].healthCheck.command: CMD-SHELL takes exactly one shell "
               "command line");
  parse_fails (C1 (",'healthCheck':{'command':['CMD','x'],'interval':4}"),
               "containerDefinitions[0].healthCheck.interval: 4 is out of range [5, 300]");
  parse_fails (C1 (",'healthCheck':{'command':['CMD','x'],'timeout':61}"),
               "containerDefinitions[0].healthCheck.timeout: 61 is out of range [2, 60]");
  parse_fails (C1 (",'healthCheck':{'command':['CMD','x'],'retries':0}"),
               "containerDefinitions[0].healthCheck.retries: 0 is out of range [1, 10]");
  parse_fails (C1 (",'healthCheck':{'command':['CMD','x'],'startPeriod':301}"),
               "containerDefinitions[0].healthCheck.startPeriod: 301 is out of range [0, 300]");
  parse_fails (C1 (",'restartPolicy':{'ignoredExitCodes':[1]}"),
               "containerDefinitions[0].restartPolicy.enabled: required but missing");
  parse_fails (C1 (",'restartPolicy':{'enabled':true,'restartAttemptPeriod':59}"),
               "containerDefinitions[0].restartPolicy.restartAttemptPeriod: 59 is out of range "
               "[60, 1800]");
  parse_fails (C1 (",'restartPolicy':{'enabled':true,'ignoredExitCodes':[256]}"),
               "containerDefinitions[0].restartPolicy.ignoredExitCodes[0]: 256 is out of range "
               "[0, 255]");
}

Test (taskdef, runtime_platform)
{
  parse_fails (T1 (",'runtimePlatform':{'cpuArchitecture':'ARM64'}"),
               "runtimePlatform.cpuArchitecture: `ARM64` does not match this host (X86_64)");
  parse_fails (T1 (",'runtimePlatform':{'operatingSystemFamily':'WINDOWS_SERVER_2022_CORE'}"),
               "runtimePlatform.operatingSystemFamily: `WINDOWS_SERVER_2022_CORE` does not match "
               "this host (LINUX)");
  parse_fails (T1 (",'requiresCompatibilities':['LAMBDA']"),
               "requiresCompatibilities[0]: `LAMBDA` is not EC2, FARGATE, EXTERNAL or "
               "MANAGED_INSTANCES");
  parse_fails (T1 (",'ephemeralStorage':{'sizeInGiB':10}"),
               "ephemeralStorage.sizeInGiB: 10 is out of range [21, 200]");
  parse_fails (T1 (",'tags':[{'key':'k','colour':'v'}]"), "tags[0].colour: unknown field");
}

Test (taskdef, berth_key)
{
  parse_fails (T1 (",'berth':{'pullPolicy':'sometimes'}"),
               "berth.pullPolicy: `sometimes` is not always, if-not-present or never");
  parse_fails (T1 (",'berth':{'colour':'red'}"), "berth.colour: unknown field");
  parse_fails (T1 (",'berth':{'containers':{'nope':{}}}"),
               "berth.containers.nope: no container `nope` in containerDefinitions");
  parse_fails (T1 (",'berth':{'containers':{'app':{'stopSignal':'SIGNOPE'}}}"),
               "berth.containers.app.stopSignal: `SIGNOPE` is not a signal (SIGTERM, TERM or 15)");
  parse_fails (T1 (",'berth':{'containers':{'app':{'privileged':true}}}"),
               "berth.containers.app.privileged: unknown field");
  parse_fails (T1 (",'berth':{'hostname':'a_b'}"),
               "berth.hostname: `a_b` is not a valid host name (RFC 1123, at most 64 bytes)");
  parse_fails (T1 (",'berth':[]"), "berth: expected an object, got an array");
}

Test (taskdef, signals_and_capabilities)
{
  int v;
  cr_assert_eq (taskdef_parse_signal ("SIGTERM", &v), 0);
  cr_assert_eq (v, SIGTERM);
  cr_assert_eq (taskdef_parse_signal ("int", &v), 0);
  cr_assert_eq (v, SIGINT);
  cr_assert_eq (taskdef_parse_signal ("9", &v), 0);
  cr_assert_eq (v, 9);
  cr_assert_eq (taskdef_parse_signal ("SIGRTMIN+2", &v), 0);
  cr_assert_eq (v, SIGRTMIN + 2);
  cr_assert_lt (taskdef_parse_signal ("0", &v), 0);
  cr_assert_lt (taskdef_parse_signal ("SIGFOO", &v), 0);
  cr_assert_lt (taskdef_parse_signal ("", &v), 0);
  cr_assert_eq (taskdef_parse_capability ("NET_ADMIN", &v), 0);
  cr_assert_eq (v, CAP_NET_ADMIN);
  cr_assert_eq (taskdef_parse_capability ("cap_sys_admin", &v), 0);
  cr_assert_eq (v, CAP_SYS_ADMIN);
  cr_assert_eq (taskdef_parse_capability ("bpf", &v), 0);
  cr_assert_eq (v, CAP_BPF);
  cr_assert_lt (taskdef_parse_capability ("ALL", &v), 0);
  cr_assert_lt (taskdef_parse_capability ("7", &v), 0);
}

Test (taskdef, describe_output_is_accepted)
{
  /* The shape `aws ecs describe-task-definition --query taskDefinition` prints. */
  cleanup_taskdef struct taskdef *td = parse_ok (
      "{'taskDefinitionArn':'arn:aws:ecs:us-east-1:123:task-definition/web:7',"
      "'containerDefinitions':[{'name':'web','image':'nginx:1.25','cpu':0,'memory':128,"
      "'portMappings':[{'containerPort':80,'hostPort':80,'protocol':'tcp'}],'essential':true,"
      "'environment':[],'mountPoints':[],'volumesFrom':[],'systemControls':[]}],"
      "'family':'web','networkMode':'awsvpc','revision':7,'volumes':[],'status':'ACTIVE',"
      "'requiresAttributes':[{'name':'com.amazonaws.ecs.capability.docker-remote-api.1.18'}],"
      "'placementConstraints':[],'compatibilities':['EC2','FARGATE'],"
      "'requiresCompatibilities':['FARGATE'],'cpu':'256','memory':'512',"
      "'registeredAt':'2024-05-01T10:00:00.000Z','registeredBy':'arn:aws:iam::123:root'}");
  cr_assert_eq (td->cpu, 256);
  cr_assert_eq (td->memory_mib, 512);
}

/* The fuzz seeds are real-looking task definitions: the accepted ones parse, the others
 * fail for the reason they were written for. */
Test (taskdef, seed_corpus)
{
  static const struct
  {
    const char *file, *error;
  } seeds[] = {
    { "web-with-sidecar.json", NULL },
    { "describe-output.json", NULL },
    { "minimal.json", NULL },
    { "host-mode-privileged.json", NULL },
    { "task-namespaces.json", NULL },
    { "ports-and-ranges.json", NULL },
    { "rejected-awslogs.json", "networkMode: bridge is not supported by berth: use awsvpc (the "
                               "default), which gives the task its own IP address; containers "
                               "reach each other on localhost" },
    { "numbers-and-limits.json",
      "containerDefinitions[0].ulimits[0].softLimit: is above hardLimit" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (seeds); i++)
    {
      cleanup_free char *path = xasprintf ("%s/%s", BERTH_TEST_CORPUS, seeds[i].file);
      cleanup_free char *text = NULL;
      cleanup_err berth_err err = NULL;
      struct taskdef *td = NULL;
      size_t len;
      int r;
      cr_assert_eq (berth_read_file_at (AT_FDCWD, path, 1 << 20, &text, &len, &err), 0, "%s",
                    berth_err_msg (&err));
      r = taskdef_parse (text, len, &td, &err);
      if (seeds[i].error == NULL)
        cr_assert_eq (r, 0, "%s: %s", seeds[i].file, berth_err_msg (&err));
      else
        {
          cr_assert_lt (r, 0, "%s parsed", seeds[i].file);
          cr_assert_str_eq (berth_err_msg (&err), seeds[i].error, "%s", seeds[i].file);
        }
      taskdef_free (td);
    }
}

Test (taskdef, resources_for_the_ledger)
{
  uint32_t cpu;
  uint64_t mem;
  {
    cleanup_taskdef struct taskdef *td
        = parse_ok ("{'family':'f','containerDefinitions':[{'name':'a','image':'i','cpu':100,"
                    "'memory':64,'memoryReservation':32},{'name':'b','image':'i','cpu':28,"
                    "'memory':16}]}");
    taskdef_resources (td, &cpu, &mem);
    cr_assert_eq (cpu, 128);
    cr_assert_eq (mem, 48);
  }
  {
    cleanup_taskdef struct taskdef *td
        = parse_ok ("{'family':'f','cpu':'0.5 vCPU','memory':'1GB','containerDefinitions':["
                    "{'name':'a','image':'i','cpu':100}]}");
    taskdef_resources (td, &cpu, &mem);
    cr_assert_eq (cpu, 512);
    cr_assert_eq (mem, 1024);
  }
}
