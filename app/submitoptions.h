#pragma once

#include "submission.h"

#include <QCommandLineOption>
#include <QString>

#include <optional>

class QCommandLineParser;

// An option's whole-number value when it is one and at least `min`; else nullopt.
std::optional<int> intAtLeast(const QString &text, int min);

// The options of `taskdeck run` and `taskdeck submit` that shape each task submitted:
// --timeout, --priority, --arg, --repeat, --retries and --memory (SPEC section 5), and
// the dependencies --after, --after-ended and --chain (section 4), read into the
// SubmissionOptions that Submission::load applies. Only the parsing lives here.
class SubmitOptions
{
public:
    SubmitOptions();

    // Adds the options to `parser`, in the order --help lists them.
    void addTo(QCommandLineParser &parser) const;
    // Reads them from a parser that has parsed; returns a usage error ("--timeout needs
    // ..."), or an empty string when they are all well-formed.
    QString read(const QCommandLineParser &parser);

    const SubmissionOptions &options() const { return m_options; }

private:
    QCommandLineOption m_timeoutOption;
    QCommandLineOption m_priorityOption;
    QCommandLineOption m_argOption;
    QCommandLineOption m_repeatOption;
    QCommandLineOption m_retriesOption;
    QCommandLineOption m_memoryOption;
    QCommandLineOption m_afterOption;
    QCommandLineOption m_afterEndedOption;
    QCommandLineOption m_chainOption;
    SubmissionOptions m_options;
};
