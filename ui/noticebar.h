#pragma once

#include <QList>
#include <QStringList>
#include <QWidget>

class QFrame;
class QVBoxLayout;

// Messages the user must see and decides when to put away, stacked at the top of the
// window: problems with the task store, what came back after a restart. Each notice has
// its own close button; the bar takes no room when there is none. Main thread.
class NoticeBar : public QWidget
{
    Q_OBJECT
public:
    // Past this many, the oldest notice gives way to a new one.
    static constexpr int MaxNotices = 5;

    explicit NoticeBar(QWidget *parent = nullptr);

    // Shows `text` (plain text) as a new notice, below those already shown; a text that
    // is already shown is not repeated.
    void addNotice(const QString &text);
    // The texts shown, oldest first.
    QStringList notices() const;
    void dismiss(int index);
    void dismissAll();

Q_SIGNALS:
    void dismissed(const QString &text);

protected:
    void changeEvent(QEvent *event) override;

private:
    void restyle(QFrame *notice);
    void remove(QFrame *notice);

    QVBoxLayout *m_layout;
    QList<QFrame *> m_notices;
};
