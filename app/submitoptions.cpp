#include "submitoptions.h"

#include <QCommandLineParser>

#include <climits>
#include <optional>

std::optional<int> intAtLeast(const QString &text, int min)
{
    bool ok = false;
    const int n = text.toInt(&ok);
    return ok && n >= min ? std::optional<int>(n) : std::nullopt;
}

SubmitOptions::SubmitOptions()
    : m_timeoutOption(QStringLiteral("timeout"),
                      QStringLiteral("Time limit of each task (250ms, 30s, 5m, 2h), overriding "
                                     "@timeout."),
                      QStringLiteral("DUR"))
    , m_priorityOption(QStringLiteral("priority"),
                       QStringLiteral("Priority of each task, overriding @priority."),
                       QStringLiteral("N"))
    , m_argOption(QStringLiteral("arg"),
                  QStringLiteral("Add an argument, as @arg does (repeatable)."),
                  QStringLiteral("KEY=VALUE"))
    , m_repeatOption(QStringLiteral("repeat"), QStringLiteral("Submit each file N times."),
                     QStringLiteral("N"))
    , m_retriesOption(QStringLiteral("retries"),
                      QStringLiteral("Re-runs after a failure, overriding @retries."),
                      QStringLiteral("N"))
    , m_memoryOption(QStringLiteral("memory"),
                     QStringLiteral("Memory cap of each task (64KiB, 32MiB, 1GiB), overriding "
                                    "@memory."),
                     QStringLiteral("SIZE"))
    , m_afterOption(QStringLiteral("after"),
                    QStringLiteral("Start only once tasks ID,... have succeeded (cancelled if "
                                   "one does not)."),
                    QStringLiteral("ID,..."))
    , m_afterEndedOption(QStringLiteral("after-ended"),
                         QStringLiteral("Start only once tasks ID,... have ended, whatever "
                                        "their state."),
                         QStringLiteral("ID,..."))
    , m_chainOption(QStringLiteral("chain"),
                    QStringLiteral("Run the tasks one after another in the order given, each "
                                   "after the previous one succeeded."))
{
}

void SubmitOptions::addTo(QCommandLineParser &parser) const
{
    parser.addOptions({m_timeoutOption, m_priorityOption, m_argOption, m_repeatOption,
                       m_retriesOption, m_memoryOption, m_afterOption, m_afterEndedOption,
                       m_chainOption});
}

QString SubmitOptions::read(const QCommandLineParser &parser)
{
    m_options = SubmissionOptions();
    SubmitOverrides &overrides = m_options.overrides;
    if (parser.isSet(m_timeoutOption)) {
        const QString value = parser.value(m_timeoutOption);
        const auto ms = ScriptLoader::parseDuration(value);
        if (!ms || *ms <= 0)
            return QStringLiteral("--timeout needs a duration of at most 365 days such as 250ms, "
                                  "30s, 5m or 2h, not \"%1\"")
                .arg(value);
        overrides.timeoutMs = *ms;
    }
    if (parser.isSet(m_priorityOption)) {
        const auto n = intAtLeast(parser.value(m_priorityOption), INT_MIN);
        if (!n)
            return QStringLiteral("--priority needs an integer, not \"%1\"")
                .arg(parser.value(m_priorityOption));
        overrides.priority = *n;
    }
    if (parser.isSet(m_retriesOption)) {
        const auto n = intAtLeast(parser.value(m_retriesOption), 0);
        if (!n)
            return QStringLiteral("--retries needs an integer >= 0, not \"%1\"")
                .arg(parser.value(m_retriesOption));
        overrides.retries = *n;
    }
    if (parser.isSet(m_memoryOption)) {
        const auto bytes = ScriptLoader::parseSize(parser.value(m_memoryOption));
        if (!bytes)
            return QStringLiteral("--memory needs a size such as 64KiB, 32MiB or 1GiB, not "
                                  "\"%1\"")
                .arg(parser.value(m_memoryOption));
        if (*bytes < ScriptLoader::MinMemoryBytes)
            return QStringLiteral("--memory needs at least 64KiB, not \"%1\"")
                .arg(parser.value(m_memoryOption));
        overrides.memoryBytes = *bytes;
    }
    for (const QString &value : parser.values(m_argOption)) {
        const auto arg = ScriptLoader::parseArg(value);
        if (!arg)
            return QStringLiteral("--arg needs KEY=VALUE, not \"%1\"").arg(value);
        overrides.args.append(*arg);
    }
    if (parser.isSet(m_repeatOption)) {
        const auto n = intAtLeast(parser.value(m_repeatOption), 1);
        if (!n)
            return QStringLiteral("--repeat needs an integer >= 1, not \"%1\"")
                .arg(parser.value(m_repeatOption));
        m_options.repeat = *n;
    }
    DependencyOptions &dependencies = m_options.dependencies;
    for (const auto &[option, ids] : {std::pair{&m_afterOption, &dependencies.after},
                                      std::pair{&m_afterEndedOption, &dependencies.afterEnded}}) {
        for (const QString &value : parser.values(*option)) {
            const auto parsed = TaskDependencyText::parseIds(value);
            if (!parsed)
                return QStringLiteral("--%1 needs task ids such as 12 or 12,13, not \"%2\"")
                    .arg(option->names().constFirst(), value);
            for (TaskId id : *parsed)
                if (!ids->contains(id))
                    ids->append(id);
        }
    }
    dependencies.chain = parser.isSet(m_chainOption);
    return {};
}
